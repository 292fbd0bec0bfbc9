"""Lexical search: BM25 (the bm25s library) over the same chunks as the vector index, and sentence matching.

Each chunk is indexed with its article's headline and publisher, so a question
that names a publication or echoes a headline finds the article's passages.

BM25 scores a chunk as a whole, so a passage that mentions the question's words
here and there can beat the one sentence that says what was asked. Sentence
matching scores a chunk by its best sentence instead: the summed IDF of the
question's distinct words that the sentence holds. The sentences' word ids are
stored beside the BM25 index, so scoring a few hundred candidates costs a few
array operations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .chunking import split_sentences
from .corpus import Article

__all__ = ["LexicalIndex", "lexical_document"]

_SENTENCES = "sentences.npz"


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


# bm25s.tokenize's own rule (scikit-learn's): lower-case, words of two or more characters, English
# stopwords out, then stemmed. Restated here because bm25s.tokenize builds progress bars and a vocabulary
# on every call, which costs more than the search itself; tests hold the two equal.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def _words(texts: Sequence[str], stemmer) -> list[list[str]]:
    """Lower-cased, stemmed words without English stopwords: the terms BM25 indexes."""
    stop = _stopwords()
    return [stemmer.stemWords([w for w in _TOKEN.findall(t.lower()) if w not in stop]) for t in texts]


def lexical_document(text: str, article: Article) -> str:
    """What BM25 sees for a chunk: headline, publisher, then the passage."""
    return f"{article.title}\n{article.publisher or ''}\n{text}"


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, e)`` for each pair, without a Python loop."""
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
    return shift + np.arange(total)


class _Sentences:
    """Each chunk's sentences as sets of term ids, flattened: what sentence matching reads."""

    def __init__(self, terms: np.ndarray, sentence_starts: np.ndarray, chunk_starts: np.ndarray, idf: np.ndarray):
        self.terms = terms  # term ids, sentence after sentence, each sentence's ids distinct
        self.sentence_starts = sentence_starts  # (n_sentences + 1,) offsets into terms
        self.chunk_starts = chunk_starts  # (n_chunks + 1,) offsets into the sentences
        self.idf = idf  # per term id

    @classmethod
    def build(cls, texts: Sequence[str], vocab: dict[str, int], doc_ids: Sequence[Sequence[int]], stemmer) -> _Sentences:
        spans = [split_sentences(t) for t in texts]
        flat = [t[s:e] for t, sp in zip(texts, spans) for s, e in sp]
        words = _words(flat, stemmer) if flat else []
        terms, sentence_starts = [], [0]
        for ws in words:
            ids = sorted({vocab[w] for w in ws if w in vocab})
            terms.extend(ids)
            sentence_starts.append(len(terms))
        chunk_starts = np.concatenate(([0], np.cumsum([len(sp) for sp in spans]))).astype(np.int64)
        n, df = len(doc_ids), np.zeros(max(vocab.values(), default=-1) + 1, dtype=np.float64)
        for ids in doc_ids:
            df[np.unique(np.asarray(ids, dtype=np.int64))] += 1
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))  # BM25's own IDF
        return cls(np.asarray(terms, dtype=np.int32), np.asarray(sentence_starts, dtype=np.int64), chunk_starts,
                   idf.astype(np.float32))

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, terms=self.terms, sentence_starts=self.sentence_starts, chunk_starts=self.chunk_starts,
                     idf=self.idf)

    @classmethod
    def load(cls, path: Path) -> _Sentences:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["terms"], z["sentence_starts"], z["chunk_starts"], z["idf"])

    def best_sentence(self, query_terms: Sequence[int], chunks: np.ndarray) -> np.ndarray:
        """For each chunk, the summed IDF of the query terms its best sentence holds."""
        out = np.zeros(len(chunks), dtype=np.float32)
        if not len(query_terms) or not len(chunks):
            return out
        weight = np.zeros(len(self.idf), dtype=np.float32)
        weight[np.asarray(query_terms)] = self.idf[np.asarray(query_terms)]
        first, last = self.chunk_starts[chunks], self.chunk_starts[chunks + 1]
        sentences = _ranges(first, last)
        if not len(sentences):
            return out
        lo, hi = self.sentence_starts[sentences], self.sentence_starts[sentences + 1]
        summed = np.concatenate(([0.0], np.cumsum(weight[self.terms[_ranges(lo, hi)]], dtype=np.float64)))
        ends = np.cumsum(hi - lo)
        per_sentence = (summed[ends] - summed[ends - (hi - lo)]).astype(np.float32)
        np.maximum.at(out, np.repeat(np.arange(len(chunks)), last - first), per_sentence)
        return out


class LexicalIndex:
    """A BM25 index whose document i is chunk i of the store, with chunk i's sentences for sentence matching."""

    def __init__(self, bm25, stemmer, sentences: _Sentences | None = None):
        self._bm25 = bm25
        self._stemmer = stemmer
        self._sentences = sentences
        self.terms = functools.lru_cache(maxsize=256)(self._terms)  # one question is looked up several times

    @classmethod
    def build(cls, texts: Sequence[str], articles: Sequence[Article], **params) -> LexicalIndex:
        """Index ``texts`` (chunk i of the store is ``texts[i]``, from ``articles[i]``); ``params`` go to bm25s.BM25."""
        import bm25s

        stemmer = _stemmer()
        docs = [lexical_document(t, a) for t, a in zip(texts, articles)]
        tokens = bm25s.tokenize(docs or [""], stopwords="en", stemmer=stemmer, show_progress=False)
        bm25 = bm25s.BM25(**params)
        bm25.index(tokens, show_progress=False)
        sentences = _Sentences.build(texts, tokens.vocab, tokens.ids[: len(texts)], stemmer)
        return cls(bm25, stemmer, sentences)

    def save(self, path: Path) -> None:
        self._bm25.save(str(path), show_progress=False)
        if self._sentences is not None:
            self._sentences.save(Path(path) / _SENTENCES)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        import bm25s

        sentences = _Sentences.load(Path(path) / _SENTENCES) if (Path(path) / _SENTENCES).exists() else None
        return cls(bm25s.BM25.load(str(path), show_progress=False), _stemmer(), sentences)

    @property
    def size(self) -> int:
        return int(self._bm25.scores["num_docs"])

    @property
    def has_sentences(self) -> bool:
        return self._sentences is not None

    def _terms(self, query: str) -> tuple[int, ...]:
        """The indexed term ids of ``query``'s words (unknown words dropped)."""
        vocab = self._bm25.vocab_dict
        return tuple(vocab[w] for w in _words([query], self._stemmer)[0] if w in vocab)

    def term_weights(self, text: str) -> tuple[dict[str, float], list[str]]:
        """``text``'s indexed terms (stemmed) with their BM25 IDF, and the terms the corpus never uses.

        The reader weighs word overlap by rarity in the whole archive, and a name
        the archive never mentions tells it the question is about something else.
        """
        vocab = self._bm25.vocab_dict
        idf = self._sentences.idf if self._sentences is not None else None
        known: dict[str, float] = {}
        unknown: list[str] = []
        for w in _words([text], self._stemmer)[0]:
            i = vocab.get(w)
            if i is None or (idf is not None and i >= len(idf)):
                unknown.append(w)
            else:
                known[w] = float(idf[i]) if idf is not None else 1.0
        return known, unknown

    def stems(self, text: str) -> list[str]:
        """The terms BM25 would index for ``text``: lower-cased, stopwords out, stemmed."""
        return _words([text], self._stemmer)[0]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (zeros when no query word is indexed)."""
        ids = self.terms(query)
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(list(ids)), dtype=np.float32)

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

    def sentence_match(self, query: str, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``chunks`` with a positive best-sentence score, best first, and their scores (ties: lower id first)."""
        chunks = np.asarray(chunks, dtype=np.int64)
        if self._sentences is None or not len(chunks):
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        s = self._sentences.best_sentence(self.terms(query), chunks)
        order = np.lexsort((chunks, -s))
        order = order[s[order] > 0]
        return s[order], chunks[order]
