"""Retrieval: find the passages that answer a question, with their source and date."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import numbers
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .chunking import ChunkingConfig
from .corpus import Article, Corpus, load_corpus
from .embedding import Embedder, embedder_for
from .errors import CorpusError, IndexNotFound, InvalidQuery
from .query import Analysis, PublisherMatcher, analyse, clauses
from .settings import Settings
from .location import (
    cache_key, exists, local_dir, location, open_store, recorded_encoder, recorded_paths, shown, uploads_dir, write_index,
)
from .settings import is_database
from .sources import UPLOADS
from .store import UNDATED, IndexReport, Store

__all__ = ["Hit", "Index", "retrieve", "index_corpus", "remove_articles", "parse_day", "check_query",
           "MAX_QUERY_CHARS", "MAX_K"]

MAX_QUERY_CHARS = 2000
MAX_K = 1000
_EPOCH = dt.date(1970, 1, 1)
# Lone surrogates (undecodable bytes of a command line arrive as U+DC80..U+DCFF) cannot be encoded,
# so tokenizers raise on them; control characters mean nothing in a question.
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


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


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut short: error messages echo what was wrong without echoing a megabyte."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"


def parse_day(value: dt.date | str | None, name: str) -> dt.date | None:
    """A ``since``/``until`` value as a date; InvalidQuery naming the field if it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidQuery(f"{name} must be a date written YYYY-MM-DD, got {_shown(value)}")


def check_query(query: object) -> str:
    """The question, cleaned so that nothing in it can make a search raise; InvalidQuery if there is none.

    Characters that cannot be encoded (lone surrogates, which is how Python
    hands over the undecodable bytes of a command line) become U+FFFD, and
    control characters become spaces.

    >>> check_query("Who handed \\udcff Baldwin\\x1b[2J the gun? ")
    'Who handed \ufffd Baldwin [2J the gun?'
    """
    if not isinstance(query, str):
        raise InvalidQuery(f"the question must be text, got {type(query).__name__}")
    query = _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", query)).strip()
    if not query:
        raise InvalidQuery("the question is empty: type a question, e.g. 'Who handed Alec Baldwin the gun?'")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"the question is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}")
    return query


def check_k(k: object) -> int:
    """``k`` if it is a whole number from 1 to MAX_K; InvalidQuery naming ``k`` if not (True is not 1)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= MAX_K:
        raise InvalidQuery(f"k must be a whole number from 1 to {MAX_K}, got {_shown(k)}")
    return int(k)


def _names(value: object, name: str) -> set[str]:
    """A ``sources``/``publishers`` filter as a set of names; InvalidQuery naming it if it is not a list of text."""
    if value is None:
        return set()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidQuery(f"{name} must be a list of names, got {_shown(value)}")
    names = list(value)
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise InvalidQuery(f"{name} must be a list of names, and {_shown(bad[0])} is not one")
    return set(names)


def rrf(rankings: Sequence[Sequence[int]], weights: Sequence[float] | None = None, k0: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: sum of weight / (k0 + rank) over the rankings an item is in.

    >>> rrf([[7, 3], [3, 9]], k0=1) == {7: 1 / 2, 3: 1 / 3 + 1 / 2, 9: 1 / 3}
    True
    """
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + w / (k0 + rank)
    return fused


def cap_per_article(ranked: Iterable[int], article_of: np.ndarray, cap: int) -> list[int]:
    """``ranked`` with at most ``cap`` chunks of any one article, order kept."""
    seen: dict[int, int] = {}
    out = []
    for i in ranked:
        a = int(article_of[i])
        if seen.get(a, 0) < cap:
            seen[a] = seen.get(a, 0) + 1
            out.append(i)
    return out


def merge_fairly(parts: Sequence[Sequence[int]], rest: Sequence[int], quota: int | Sequence[int]) -> list[int]:
    """Take turns: the best unseen item of each part in turn until each has given its ``quota``; then ``rest``.

    ``quota`` is one number for every part or one per part. A part that runs
    out gives up its turns; no item appears twice; items of the parts that
    found no place come last.

    >>> merge_fairly([[1, 2, 3], [4, 1, 5]], rest=[9, 5, 8], quota=2)
    [1, 4, 2, 5, 9, 8, 3]
    """
    quotas = [quota] * len(parts) if isinstance(quota, int) else list(quota)
    out: list[int] = []
    seen: set[int] = set()
    pos = [0] * len(parts)
    for turn in range(max(quotas, default=0)):
        for n, ranking in enumerate(parts):
            if turn >= quotas[n]:
                continue
            while pos[n] < len(ranking) and ranking[pos[n]] in seen:
                pos[n] += 1
            if pos[n] < len(ranking):
                out.append(ranking[pos[n]])
                seen.add(ranking[pos[n]])
                pos[n] += 1
    for i in list(rest) + [i for ranking in parts for i in ranking]:
        if i not in seen:
            out.append(i)
            seen.add(i)
    return out


@dataclass(frozen=True)
class Tuning:
    """The ranking's constants, chosen on the MultiHop-RAG dev split (docs/benchmarks.md has the sweep)."""

    depth: int = 50  # candidates taken from each ranking (at least 4 k)
    k0: int = 5  # RRF damping: low, so a ranking's first few places count for much more than its tail
    # BM25 and sentence matching carry long questions full of names (MultiHop-RAG: dense weight 1 is best
    # there, by 0.004 fact-recall); dense similarity carries short paraphrased ones (the labelled seeds
    # set needs dense weight 3 to keep its answer rate). 3 / 3 / 3 serves both.
    dense_weight: float = 3.0
    lexical_weight: float = 3.0
    sentence_weight: float = 3.0
    metadata_weight: float = 1.0  # weight of the search restricted to the named publishers and dates
    part_quota: int = 3  # chunks each named publisher or date places before the rest compete
    clause_quota: int = 1  # chunks each clause of a many-clause question places
    lead: int = 1  # chunks of the whole question's ranking placed before the parts take turns


def _monotone(ranked: Sequence[int], fused: dict[int, float]) -> dict[int, float]:
    """Scores that never rise down ``ranked``: each is its fused score, or the one above if lower."""
    out: dict[int, float] = {}
    last = float("inf")
    for i in ranked:
        last = min(last, fused.get(i, 0.0))
        out[i] = last
    return out


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
        src, pub = _names(sources, "sources"), {p.casefold() for p in _names(publishers, "publishers")}
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
        analysis = analyse(query, facts.matcher) if s.metadata or s.coverage else Analysis(query)
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
            fused = _monotone(ranked, fused)
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


def index_corpus(paths: Sequence[Path | str] | None = None, *, settings: Settings | None = None,
                 rebuild: bool = False, prune: bool = False, progress: bool = False,
                 embedder: Embedder | None = None, ray: str | None = None) -> IndexReport:
    """Add and update the articles under ``paths`` in ``settings.index``; only new or changed ones are embedded.

    Nothing is removed unless asked: articles from paths not named this time,
    from uploads, or whose files are gone stay in the index, and the report
    says how many and why. ``prune`` removes those no longer under ``paths``
    and those from paths not named (uploads stay: ``remove_articles`` takes
    them out). Without ``paths``: the paths the index records, plus its
    uploads (``settings.corpus`` for a new index). ``rebuild`` embeds every
    recorded path, named path and upload again.

    A named path that does not exist is a warning, and the articles indexed
    from it stay; CorpusError when no path named exists at all.

    ``settings.index`` is a directory or a postgresql:// URL; ``ray`` runs the
    embedding as a Ray Data job (``"local"``, ``"auto"`` or ``"ray://HOST:PORT"``),
    which writes the same index.
    """
    settings = settings or Settings()
    root = location(settings.index)
    uploads = uploads_dir(root)
    recorded = recorded_paths(root)
    named = [Path(p) for p in paths] if paths else []
    if not named and recorded is None:
        if (root / "CURRENT").exists() if not is_database(root) else exists(root):
            raise CorpusError(f"the index at {shown(root)} does not record the paths it was built from (its manifest "
                              f"is damaged); name them: 'rag index PATH ... --index {shown(root).rstrip('/')} --rebuild'")
        named = [Path(settings.corpus)]  # a new index
    if named and not any(p.exists() for p in named):
        raise CorpusError(f"no such file or folder: {', '.join(str(p) for p in named)}; the index is unchanged")
    recorded = recorded or []
    targets = list(named)
    if not paths or rebuild:  # everything the index holds is read again
        targets += [] if (paths and prune) else [Path(p) for p in recorded]
        targets.append(uploads)

    def origin(p: Path) -> str:
        return UPLOADS if p.resolve() == uploads.resolve() else str(p.resolve())

    targets = list({origin(p): p for p in targets}.values())
    missing = [p for p in targets if not p.exists() and origin(p) != UPLOADS]
    articles: dict[str, Article] = {}
    origins: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    warnings = [f"{p} does not exist (moved, deleted or not mounted?): nothing was read from it, and the articles "
                f"indexed from it stay" for p in missing]
    read: set[str] = set()
    for p in targets:
        if not p.exists():
            continue
        try:
            got = load_corpus([p], progress=progress)
        except CorpusError as e:  # it vanished meanwhile
            warnings.append(str(e))
            continue
        read.add(origin(p))
        skipped += got.skipped
        warnings += got.warnings
        for a in got.articles:
            if a.source in articles:
                skipped.append((a.source, "a second article with the same citation key (file name or url)"))
                warnings.append(f"skipped {a.source} in {p}: an article with the same name was read from "
                                f"{origins[a.source]}; kept that one")
                continue
            articles[a.source] = a
            origins[a.source] = origin(p)
    own = [origin(p) for p in named if origin(p) != UPLOADS]
    embedder = embedder or embedder_for(settings, built_with=None if rebuild else recorded_encoder(root))
    return write_index(
        Corpus(tuple(articles.values()), tuple(skipped), tuple(warnings)), root, embedder,
        ChunkingConfig(settings.chunk_tokens or embedder.max_tokens, settings.overlap_tokens),
        rebuild=rebuild, kind=settings.index_kind, approximate_threshold=settings.approximate_threshold,
        batch_size=settings.batch_size, progress=progress, lexical=True,
        corpus_paths=list(dict.fromkeys([*([] if (paths and prune) else recorded), *own])),
        origins=origins, read=read, missing={origin(p) for p in missing}, prune=prune, ray=ray,
    )


def remove_articles(names: Sequence[str], *, settings: Settings | None = None,
                    embedder: Embedder | None = None) -> IndexReport:
    """Take articles out of ``settings.index``, each named as it is cited, by its collection file, or by a
    recorded corpus path (all of that path's articles, and the path is no longer recorded).

    An uploaded file is moved to ``<index>/uploads/.removed/`` (kept, but no
    longer indexed). A file under a corpus folder is left where it is: indexing
    that folder again adds it back. CorpusError, with nothing changed, if a
    name matches nothing.
    """
    settings = settings or Settings()
    root = location(settings.index)
    store = open_store(root)
    origin = store.origins()
    sources = [a.source for a in store.articles] if isinstance(store, Store) else store.sources()
    recorded = recorded_paths(root) or []
    if isinstance(names, str) or not names:
        raise InvalidQuery("name the articles to remove, e.g. 'rag remove 004_3895aaea98e54197.txt'")
    drop: set[str] = set()
    unrecord: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InvalidQuery(f"name the articles to remove, got {_shown(name)}")
        hit = {s for s in sources if s == name or s.startswith(name + "#")}
        path = str(Path(name).resolve())
        if not hit and (path in recorded or path in origin.values()):
            hit = {s for s, o in origin.items() if o == path}
            unrecord.add(path)
        if not hit and path not in unrecord:
            example = sources[0] if sources else "004_3895aaea98e54197.txt"
            raise CorpusError(f"no article {_shown(name)} in the index at {shown(root)} (give the name it is cited by, "
                              f"e.g. {example}, or a corpus path); nothing was removed")
        drop |= hit
    uploads = uploads_dir(root)
    files = sorted({s.split("#", 1)[0] for s in drop if origin.get(s) == UPLOADS})
    for f in files:  # the file is what keeps an uploaded article indexed, so a collection goes whole or not at all
        rest = [s for s in sources if s.split("#", 1)[0] == f and s not in drop]
        if rest:
            raise CorpusError(f"{f} is an uploaded collection that holds {len(rest)} more articles: remove the "
                              f"whole file with 'rag remove {f}'; nothing was removed")
    embedder = embedder or embedder_for(settings, built_with=recorded_encoder(root))
    moved: list[tuple[Path, Path]] = []
    try:
        for f in files:
            if (uploads / f).is_file():
                dest = _unused(uploads / ".removed" / f)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(uploads / f, dest)
                moved.append((uploads / f, dest))
        report = write_index(
            Corpus(()), root, embedder, ChunkingConfig(**store.manifest["chunking"]), kind=settings.index_kind,
            approximate_threshold=settings.approximate_threshold, read=(), drop=drop,
            corpus_paths=[p for p in recorded if p not in unrecord],
        )
    except BaseException:
        for src, dest in moved:  # the index is as it was, so the files go back
            os.replace(dest, src)
        raise
    return dataclasses.replace(report, reasons=tuple(r for r in report.reasons if r.startswith("removed")))


def _unused(path: Path) -> Path:
    """``path``, or ``path`` with -2, -3... before its suffix, whichever does not exist yet."""
    out, n = path, 2
    while out.exists():
        out, n = path.with_name(f"{path.stem}-{n}{path.suffix}"), n + 1
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
