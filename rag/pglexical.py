"""BM25 and sentence matching for the PostgreSQL store, from the terms and statistics kept in its tables.

The same scores as ``rag.lexical`` (bm25s, method "lucene"): each chunk's
stemmed terms are a ``tsvector``, document frequencies live in
``dateline_terms`` and lengths on the chunk rows, so one SQL statement scores
the chunks a question's terms select. Part of ``rag.pgstore``: a ``PgLexical``
belongs to one ``PgStore`` and reads through its connection, chunk ids and
article cache.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from .chunking import split_sentences

if TYPE_CHECKING:
    from .pgstore import PgSelection, PgStore

__all__ = ["PgLexical", "EXACT_POSTINGS", "CANDIDATE_POSTINGS"]

#: BM25: every chunk holding a question term is scored while they number at most EXACT_POSTINGS (summed over the
#: terms); past that, the chunks of the rarest terms, up to CANDIDATE_POSTINGS (see PgLexical).
EXACT_POSTINGS = 200_000
CANDIDATE_POSTINGS = 20_000
K1, B = 1.5, 0.75  # bm25s's defaults (method "lucene")


class PgLexical:
    """BM25 over the chunks' terms in the database, and sentence matching; the same scores as rag.lexical.

    Every chunk holding one of the question's terms is scored while those
    number at most ``exact_postings`` (summed over the terms): the ranking is
    then bm25s's. Past that (an archive of millions of chunks and a question
    with common words), the candidates are the chunks holding the rarest terms,
    up to ``candidate_postings``, scored by every term; a bound on what the
    other chunks could score says whether that top k is exact, and
    ``approximate`` counts the searches where it may not be.
    """

    has_sentences = True
    exact_postings = EXACT_POSTINGS
    candidate_postings = CANDIDATE_POSTINGS
    approximate = 0  # searches whose top k may have missed a chunk holding only the question's common terms

    def __init__(self, store: PgStore):
        self.store = store
        self._df: dict[str, int] = {}
        self._sentences: collections.OrderedDict[int, list[frozenset[str]]] = collections.OrderedDict()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self.store)

    def stems(self, text: str) -> list[str]:
        """The terms BM25 would index for ``text``: lower-cased, stopwords out, stemmed."""
        from .lexical import _stemmer, _words

        return _words([text], _stemmer_once(_stemmer))[0]

    def _doc_freq(self, terms: Iterable[str]) -> dict[str, int]:
        terms = set(terms)
        with self._lock:
            missing = [t for t in terms if t not in self._df]
        if missing:
            found = dict(self.store._execute("SELECT term, df FROM dateline_terms WHERE term = ANY(%s)", (missing,)))
            with self._lock:
                if len(self._df) > 200_000:
                    self._df.clear()
                for t in missing:
                    self._df[t] = int(found.get(t, 0))
        return {t: self._df.get(t, 0) for t in terms}

    def _idf(self, df: int) -> float:
        n = len(self.store)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def term_weights(self, text: str) -> tuple[dict[str, float], list[str]]:
        """``text``'s indexed terms (stemmed) with their BM25 IDF, and the terms the corpus never uses."""
        words = self.stems(text)
        df = self._doc_freq(words)
        known: dict[str, float] = {}
        unknown: list[str] = []
        for w in words:
            if df[w]:
                known[w] = self._idf(df[w])
            else:
                unknown.append(w)
        return known, unknown

    def search(self, query: str, k: int, allowed: PgSelection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, chunk ids) with a positive BM25 score, among ``allowed`` if given."""
        none = (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))
        words = self.stems(query)
        df = self._doc_freq(words)
        counts = collections.Counter(w for w in words if df[w])
        if not counts or k <= 0 or (allowed is not None and not allowed.count):
            return none
        terms = sorted(counts, key=lambda t: (df[t], t))
        weights = [counts[t] * self._idf(df[t]) for t in terms]
        if sum(df[t] for t in terms) <= self.exact_postings:  # every chunk holding a term, scored: exact
            rows = self._bm25(terms, weights, terms, k, allowed)
        else:
            fetch, total = [], 0
            for t in terms:  # rarest first, while the chunks they name stay few
                if fetch and total + df[t] > self.candidate_postings:
                    break
                fetch.append(t)
                total += df[t]
            rows = self._bm25(terms, weights, fetch, k, allowed)
            # A chunk holding none of the fetched terms scores less than the summed weights of the others
            # (each term adds weight * tf / (tf + K), below its weight): when the k-th score reaches that,
            # this top k is the exact one (MaxScore); otherwise it is the best among the rarer terms' chunks.
            if len(rows) < k or rows[-1][6] < sum(weights[len(fetch):]):
                self.approximate += 1
        if not rows:
            return none
        return np.array([r[6] for r in rows], dtype=np.float32), self.store._intern([r[:6] for r in rows])

    def _bm25(self, terms, weights, fetch, k, allowed):
        c = self.store.manifest["counts"]
        params = {"terms": terms, "weights": weights, "k": k, "k1": K1, "b": B,
                  "avgdl": max(c["terms"] / max(c["chunks"], 1), 1e-9),
                  "tsq": " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in fetch)}
        pred = allowed.where.sql(params) if allowed is not None else "TRUE"
        return self.store._execute(f"""
            WITH q(term, w) AS (SELECT * FROM unnest(%(terms)s::text[], %(weights)s::float8[]))
            SELECT c.article_id, c.id, c.start_char, c.end_char, c.position, c.seq,
                   sum(q.w * cardinality(u.positions)
                       / (cardinality(u.positions) + %(k1)s * (1 - %(b)s + %(b)s * c.n_terms / %(avgdl)s))) AS s
            FROM dateline_chunks c
            CROSS JOIN LATERAL unnest(ts_filter(setweight(c.terms, 'A', %(terms)s::text[]), '{{a}}')) u
            JOIN q ON q.term = u.lexeme
            WHERE c.terms @@ %(tsq)s::tsquery AND {pred}
            GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY s DESC, c.seq LIMIT %(k)s""", params).fetchall()

    def _sentence_terms(self, i: int) -> list[frozenset[str]]:
        with self._lock:
            got = self._sentences.get(i)
        if got is None:
            text = self.store.chunk(i).text
            from .lexical import _stemmer, _words

            spans = split_sentences(text)
            got = [frozenset(ws) for ws in _words([text[s:e] for s, e in spans], _stemmer_once(_stemmer))] if spans else []
            with self._lock:
                self._sentences[i] = got
                while len(self._sentences) > 50_000:
                    self._sentences.popitem(last=False)
        return got

    def sentence_match(self, query: str, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``chunks`` with a positive best-sentence score (summed IDF of the question's terms one sentence
        holds), best first; ties: written first, first."""
        chunks = np.asarray(chunks, dtype=np.int64)
        idf, _ = self.term_weights(query)
        if not idf or not len(chunks):
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        self.store._fetch(self.store._article_keys[int(self.store._rows[i, 0])] for i in chunks)
        s = np.array([max((sum(idf[w] for w in sent if w in idf) for sent in self._sentence_terms(int(i))), default=0.0)
                      for i in chunks], dtype=np.float32)
        order = np.lexsort((self.store._seq[chunks], -s))
        order = order[s[order] > 0]
        return s[order], chunks[order]


_STEMMERS = threading.local()


def _stemmer_once(make):
    """One PyStemmer object per thread: cheap to call, not to build, and not meant to be shared."""
    stemmer = getattr(_STEMMERS, "stemmer", None)
    if stemmer is None:
        stemmer = _STEMMERS.stemmer = make()
    return stemmer
