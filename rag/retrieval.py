"""Retrieval: find the passages that answer a question, with their source and date."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checks import check_k, check_names, check_query, parse_day
from .corpus import Article
from .embedding import Embedder, embedder_for
from .errors import IndexNotFound, InvalidQuery
from .fusion import Tuning, cap_per_article, merge_fairly, monotone, rrf
from .indexing import index_corpus
from .location import cache_key, exists, local_dir, location, open_store, recorded_encoder
from .query import Analysis, PublisherMatcher, analyse, clauses
from .settings import Settings, is_database
from .store import UNDATED, Store
from .truecase import restore

__all__ = ["Hit", "Index", "retrieve", "open_index"]

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Hit:
    """One retrieved passage and where it comes from.

    ``text == article.text[start:end]`` for the article named by ``source``;
    ``score`` orders the hits (higher first); ``similarity`` is the cosine
    between question and passage.
    """

    text: str
    source: str
    date: dt.date | None
    title: str
    score: float
    start: int
    end: int
    article_id: str = ""
    publisher: str | None = None
    url: str | None = None
    similarity: float = 0.0
    chunk: int = -1
    date_source: str = ""  # where the date came from (rag.corpus.DATE_SOURCES); "" for an older index
    date_confidence: str = ""  # high, medium or none

    def to_dict(self) -> dict:
        return {
            "source": self.source, "date": self.date.isoformat() if self.date else None, "title": self.title,
            "score": round(self.score, 6), "similarity": round(self.similarity, 6), "start": self.start,
            "end": self.end, "text": self.text, "publisher": self.publisher, "url": self.url,
            "date_source": self.date_source, "date_confidence": self.date_confidence,
        }






class _Facts:
    """What ranking needs to know about a loaded FAISS store, computed once per generation.

    Kept together so a refresh swaps them with the store in one assignment. A
    PostgreSQL store brings its own (``rag.pgfilters.PgFacts``): the same methods,
    answered by SQL instead of arrays over every chunk.
    """

    def __init__(self, store: Store):
        self.store = store
        self.article_of = store.rows[:, 0] if len(store) else np.zeros(0, dtype=np.int64)
        self.days = store.chunk_dates()
        names = sorted({a.publisher for a in store.articles if a.publisher})
        self._publisher_id = {p: n for n, p in enumerate(names)}
        by_article = np.array([self._publisher_id.get(a.publisher, -1) for a in store.articles], dtype=np.int64)
        self.publisher_of = by_article[self.article_of] if len(self.article_of) else np.zeros(0, dtype=np.int64)
        self.matcher = PublisherMatcher(names) if names else None

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """One search reads one snapshot: a loaded generation is one already."""
        yield

    def allowed(self, since: dt.date | None, until: dt.date | None, sources: set[str],
                publishers: set[str]) -> np.ndarray:
        """Chunk ids published in [since, until] and, when named, one of ``sources`` or by one of ``publishers``
        (case-folded)."""
        keep = self.in_window(since, until)
        if sources or publishers:
            ok = np.array([a.source in sources or (a.publisher or "").casefold() in publishers
                           for a in self.store.articles], dtype=bool)
            keep &= ok[self.article_of] if len(keep) else keep
        return np.flatnonzero(keep)

    def in_window(self, since: dt.date | None, until: dt.date | None) -> np.ndarray:
        """Boolean mask of the chunks published within [since, until] (either end open)."""
        keep = np.ones(len(self.days), dtype=bool)
        if since is None and until is None:
            return keep
        keep &= self.days != UNDATED  # an article of unknown date is in no window
        if since is not None:
            keep &= self.days >= (since - _EPOCH).days
        if until is not None:
            keep &= self.days <= (until - _EPOCH).days
        return keep

    def select(self, publishers: Iterable[str], windows: Sequence[tuple[dt.date | None, dt.date | None]],
               allowed: np.ndarray | None) -> np.ndarray | None:
        """Allowed chunk ids of articles by one of ``publishers`` (any if empty) published in one of ``windows``.

        A date that matches none of those articles is dropped rather than
        emptying the search ("spent billions in 2021" names no publication
        date). None when there is nothing to restrict by, or when no allowed
        chunk matches: then no restricted search is worth running.
        """
        publishers = set(publishers)
        if not publishers and not windows:
            return None
        base = np.ones(len(self.days), dtype=bool)
        if allowed is not None:
            base[:] = False
            base[allowed] = True
        if publishers:
            base &= np.isin(self.publisher_of, [self._publisher_id[p] for p in publishers if p in self._publisher_id])
        if windows:
            dated = np.zeros(len(self.days), dtype=bool)
            for since, until in windows:
                dated |= self.in_window(since, until)
            if (base & dated).any():
                base &= dated
            elif not publishers:
                return None
        return np.flatnonzero(base) if base.any() else None


def _facts_for(store):
    return _Facts(store) if isinstance(store, Store) else store.facts()


def _best_first(scores: dict[int, float], facts) -> list[int]:
    """Chunk ids by score, highest first; equal scores in the store's order of writing (for FAISS: by id)."""
    order = getattr(facts, "order", None)
    if order is None:
        return sorted(scores, key=lambda i: (-scores[i], i))
    return sorted(scores, key=lambda i: (-scores[i], int(order[i])))


def _cache_key(allowed) -> object:
    """A dense search's cache key for an allowed set: array bytes (FAISS) or the filter itself (PostgreSQL)."""
    return allowed.tobytes() if isinstance(allowed, np.ndarray) else allowed


class Index:
    """An opened index with its embedder: hold one to search many times without reloading.

    >>> idx = Index.open("vectorstore")
    >>> idx.search("Who handed Alec Baldwin the gun?", k=3)[0].source
    '004_3895aaea98e54197.txt'
    """

    def __init__(self, store: Store, embedder: Embedder, settings: Settings, *, tuning: Tuning | None = None):
        self.embedder, self.settings = embedder, settings
        self.tuning = tuning or Tuning()
        self._facts = _facts_for(store)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str | None = None, *, settings: Settings | None = None,
             embedder: Embedder | None = None) -> Index:
        """Open the index at ``path`` (a directory or a postgresql:// URL; default: ``settings.index``),
        loading the model it was built with."""
        settings = settings or Settings()
        root = location(path) if path is not None else settings.index
        embedder = embedder or embedder_for(settings, built_with=recorded_encoder(root))
        store = open_store(root, model=embedder.name, dimension=embedder.dimension,
                           encoder=getattr(embedder, "encoder", None))
        return cls(store, embedder, settings)

    def snapshot(self) -> Index:
        """This index as it is now, for one answer: it keeps reading this generation, whatever goes live meanwhile.

        An answer searches, reads neighbouring chunks and looks up articles several
        times; without a snapshot a refresh in between (an upload, another ``rag
        index``) could mix two generations in one answer. A PostgreSQL store keeps its
        snapshot's counts, statistics and publishers, and reads each search in one
        database snapshot; a write committed between two searches of one answer is
        seen by the later one (an article removed meanwhile is a RagError, "ask again").
        """
        snap = Index.__new__(Index)
        snap.embedder, snap.settings, snap.tuning = self.embedder, self.settings, self.tuning
        snap._facts, snap._lock, snap._frozen = self._facts, threading.Lock(), True
        return snap

    def refresh(self) -> bool:
        """Reload if another process (or an upload) made a newer generation live; True if it did."""
        if getattr(self, "_frozen", False):
            return False
        store = self.store
        if not store.stale():
            return False
        with self._lock:
            if self.store is store:
                fresh = store.reopen(model=self.embedder.name, dimension=self.embedder.dimension,
                                     encoder=getattr(self.embedder, "encoder", None))
                self._facts = _facts_for(fresh)
        return True

    # -- facts about the index, for status lines and filters -------------------------------
    @property
    def store(self) -> Store:
        """The loaded store: ``rag.store.Store`` (FAISS) or ``rag.pgstore.PgStore`` (PostgreSQL)."""
        return self._facts.store

    @property
    def articles(self) -> list[Article]:
        return self.store.articles

    @property
    def local_dir(self) -> Path:
        """The index's folder on this machine (its directory; for a database, ``rag.location.local_dir``)."""
        return local_dir(self.store.root)

    @property
    def publishers(self) -> PublisherMatcher | None:
        """Finds this index's publishers named in a question (None when no article names one)."""
        return self._facts.matcher

    def stats(self) -> dict:
        return self.store.stats()

    # -- search -------------------------------------------------------------------------------
    def allowed(self, since: dt.date | None = None, until: dt.date | None = None,
                sources: Iterable[str] | None = None, publishers: Iterable[str] | None = None,
                *, facts: _Facts | None = None) -> np.ndarray | None:
        """Chunk ids that pass the filters, or None when nothing is filtered.

        An article of unknown date passes no date window. ``facts`` is the
        snapshot of the index the ids are for (default: the one live now).
        """
        src, pub = check_names(sources, "sources"), {p.casefold() for p in check_names(publishers, "publishers")}
        if since is None and until is None and not src and not pub:
            return None
        return (facts or self._facts).allowed(since, until, src, pub)

    def search(self, query: str, k: int = 5, *, since: dt.date | str | None = None, until: dt.date | str | None = None,
               sources: Iterable[str] | None = None, publishers: Iterable[str] | None = None,
               qvec: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``; filters apply before the top ``k`` is chosen.

        One search reads one generation of the index from start to end, even
        when an upload or another process makes a newer one live meanwhile.
        ``qvec`` is the vector of ``query`` when the caller has it already.
        """
        query, k = check_query(query), check_k(k)
        since, until = parse_day(since, "since"), parse_day(until, "until")
        if since and until and since > until:
            raise InvalidQuery(f"since ({since}) is after until ({until}): nothing can match")
        facts = self._facts  # the snapshot this whole search reads
        with facts.reading():
            allowed = self.allowed(since, until, sources, publishers, facts=facts)
            if allowed is not None and len(allowed) == 0:
                return []
            qvec = self.embedder.encode([query])[0] if qvec is None else qvec
            ranked, fused = self._rank(query, qvec, k, allowed, facts)
            return self._hits(ranked[:k], fused, qvec, facts)

    def _rank(self, query: str, qvec: np.ndarray, k: int, allowed: np.ndarray | None,
              facts: _Facts) -> tuple[list[int], dict[int, float]]:
        """Chunk ids best first, and the score of each.

        1. hybrid: dense, BM25 and sentence-match rankings fused by weighted RRF;
        2. metadata: when the question names publishers or dates, the same search
           restricted to the matching articles is fused in;
        3. coverage: a question that names several publishers or dates (two
           reports compared, say), or that strings several clauses together, gets
           one search per part; the parts take turns placing their best chunks,
           then the rest compete; no article holds more than ``per_article``.
        """
        s, t = self.settings, self.tuning
        depth = max(t.depth, 4 * k)
        dense_cache: dict[bytes | None, list[int]] = {}
        # a question typed without capitals gets the archive's back, so publishers and names are still found
        analysis = analyse(restore(query, self.store), facts.matcher) if s.metadata or s.coverage else Analysis(query)
        fused = self._hybrid(query, qvec, allowed, depth, dense_cache, facts)
        if s.metadata and not analysis.is_plain:
            named = facts.select(analysis.publishers, analysis.windows, allowed)
            if named is not None:
                for i, v in self._hybrid(query, qvec, named, depth, dense_cache, facts).items():
                    fused[i] = fused.get(i, 0.0) + t.metadata_weight * v
        ranked = _best_first(fused, facts)
        if not s.coverage:
            return ranked, fused
        searches: list[tuple[str, np.ndarray | None, int]] = []  # (text, chunks searched, quota)
        if len(analysis.parts) > 1:
            for part in analysis.parts:
                windows = ((part.since, part.until),) if part.since or part.until else ()
                sel = facts.select(part.publishers, windows, allowed)
                if sel is not None:
                    searches.append((query, sel, t.part_quota))
        parts = clauses(query, keep=[(m.start, m.end) for m in analysis.mentions])
        if len(parts) > 1:
            sel = facts.select(analysis.publishers, (), allowed) if analysis.publishers else None
            searches.extend((c, allowed if sel is None else sel, t.clause_quota) for c in parts)
        if searches:
            rankings = []
            for text, sel, _ in searches:
                got = self._hybrid(text, qvec, sel, depth, dense_cache, facts)
                rankings.append(cap_per_article(_best_first(got, facts), facts.article_of, s.per_article))
            quotas = [q for *_, q in searches]
            if t.lead:
                rankings.insert(0, ranked)
                quotas.insert(0, t.lead)
            ranked = merge_fairly(rankings, ranked, quotas)
            fused = monotone(ranked, fused)
        return cap_per_article(ranked, facts.article_of, s.per_article), fused

    def _hybrid(self, text: str, qvec: np.ndarray, allowed: np.ndarray | None, depth: int,
                dense_cache: dict[bytes | None, list[int]], facts: _Facts) -> dict[int, float]:
        """Dense, BM25 and sentence-match rankings of the ``allowed`` chunks (all if None), fused by weighted RRF.

        The dense ranking depends only on the question's vector and ``allowed``,
        so the searches of one question share it through ``dense_cache``.
        """
        s, t = self.settings, self.tuning
        store = facts.store
        lexical = store.lexical if s.lexical else None
        rankings: list[list[int]] = []
        weights: list[float] = []
        if s.dense or lexical is None:
            key = None if allowed is None else _cache_key(allowed)
            if key not in dense_cache:
                dense_cache[key] = store.search(qvec, depth, allowed)[1].tolist()
            rankings.append(dense_cache[key])
            weights.append(t.dense_weight)
        if lexical is not None:
            rankings.append(lexical.search(text, depth, allowed)[1].tolist())
            weights.append(t.lexical_weight)
            if s.sentences and lexical.has_sentences:
                candidates = np.unique(np.concatenate([np.asarray(r, dtype=np.int64) for r in rankings]))
                rankings.append(lexical.sentence_match(text, candidates)[1].tolist())
                weights.append(t.sentence_weight)
        return rrf(rankings, weights, t.k0)

    def _hits(self, ids: Sequence[int], fused: dict[int, float], qvec: np.ndarray,
              facts: _Facts | None = None) -> list[Hit]:
        if not ids:
            return []
        store = (facts or self._facts).store
        chunks, articles, vecs = store.passages(ids)
        sims = vecs @ qvec
        out = []
        for i, c, a, sim in zip(ids, chunks, articles, sims):
            out.append(Hit(c.text, c.source, c.date, c.title, float(fused.get(i, sim)), c.start, c.end,
                           a.id, a.publisher, a.url, float(sim), int(i), a.date_source, a.date_confidence))
        return out



@functools.lru_cache(maxsize=8)
def _open_cached(root: str, settings: Settings) -> Index:
    return Index.open(root, settings=settings)


def retrieve(query: str, k: int = 5, *, since: dt.date | str | None = None, until: dt.date | str | None = None,
             index: Path | str | None = None, settings: Settings | None = None) -> list[Hit]:
    """The ``k`` passages that best answer ``query``, each with its source file and publication date.

    ``since``/``until`` (a date or ``YYYY-MM-DD``, both inclusive) restrict the
    articles searched before the top ``k`` is chosen. ``index`` names an index
    directory (default ``vectorstore/``) or a ``postgresql://`` URL; the default
    index is built from ``seeds/`` on first use. The model and index load once
    per process.

    >>> hits = retrieve("Who handed Alec Baldwin the gun?", k=3)
    >>> hits[0].source, hits[0].date
    ('004_3895aaea98e54197.txt', datetime.date(2021, 12, 2))
    """
    settings = _check_settings(settings)
    check_query(query), check_k(k)  # bad input is refused before anything loads
    parse_day(since, "since"), parse_day(until, "until")
    return open_index(index, settings).search(query, k, since=since, until=until)


def _check_settings(settings: object) -> Settings:
    if settings is None:
        return Settings()
    if not isinstance(settings, Settings):
        raise InvalidQuery(f"settings must be a rag.Settings, got {type(settings).__name__}")
    return settings


def open_index(index: Path | str | None, settings: Settings) -> Index:
    """The process-wide opened index at ``index`` (default ``settings.index``).

    Only the default index is built from ``settings.corpus`` when absent: an
    index named explicitly must exist.
    """
    root = location(index) if index is not None else settings.index
    if is_database(root):  # asking the database costs a connection: the opened index answers instead
        try:
            idx = _open_cached(cache_key(root), settings)
        except IndexNotFound:
            if index is not None or not Path(settings.corpus).exists():
                raise
            index_corpus([settings.corpus], settings=settings)
            idx = _open_cached(cache_key(root), settings)
    else:
        if not exists(root):
            if index is None and Path(settings.corpus).exists():
                index_corpus([settings.corpus], settings=settings)
            else:
                raise IndexNotFound(f"no index at {root}/: build one with 'rag index [PATH ...] --index {root}'")
        idx = _open_cached(cache_key(root), settings)
    idx.refresh()
    return idx
