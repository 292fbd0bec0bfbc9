"""Lexical search: BM25 (the bm25s library) over the same chunks as the vector index.

Each chunk is indexed with its article's headline and publisher, so a question
that names a publication or echoes a headline finds the article's passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .corpus import Article

__all__ = ["LexicalIndex", "lexical_document"]


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def lexical_document(text: str, article: Article) -> str:
    """What BM25 sees for a chunk: headline, publisher, then the passage."""
    return f"{article.title}\n{article.publisher or ''}\n{text}"


class LexicalIndex:
    """A BM25 index whose document i is chunk i of the store."""

    def __init__(self, bm25, stemmer):
        self._bm25 = bm25
        self._stemmer = stemmer

    @classmethod
    def build(cls, texts: Sequence[str], articles: Sequence[Article]) -> LexicalIndex:
        import bm25s

        stemmer = _stemmer()
        docs = [lexical_document(t, a) for t, a in zip(texts, articles)]
        tokens = bm25s.tokenize(docs or [""], stopwords="en", stemmer=stemmer, show_progress=False)
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        return cls(bm25, stemmer)

    def save(self, path: Path) -> None:
        self._bm25.save(str(path), show_progress=False)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(path), show_progress=False), _stemmer())

    @property
    def size(self) -> int:
        return int(self._bm25.scores["num_docs"])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (zeros when no query word is indexed)."""
        import bm25s

        words = bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False)[0]
        ids = self._bm25.get_tokens_ids(words)
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, chunk ids) with a positive score, among ``allowed`` if given."""
        s = self.scores(query)
        if allowed is not None:
            mask = np.full(len(s), -np.inf, dtype=np.float32)
            mask[allowed] = 0
            s = s + mask
        k = min(k, len(s))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.lexsort((top, -s[top]))]
        top = top[s[top] > 0]
        return s[top], top.astype(np.int64)
