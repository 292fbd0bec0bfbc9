"""Retrieval: find the passages that answer a question, with their source and date."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .chunking import ChunkingConfig
from .corpus import Article, load_corpus
from .embedding import Embedder, load_embedder
from .errors import IndexNotFound, InvalidQuery
from .settings import Settings
from .store import IndexReport, Store, build_index, current_generation

__all__ = ["Hit", "Index", "retrieve", "index_corpus", "parse_day", "MAX_QUERY_CHARS"]

MAX_QUERY_CHARS = 2000
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

    def to_dict(self) -> dict:
        return {
            "source": self.source, "date": self.date.isoformat() if self.date else None, "title": self.title,
            "score": round(self.score, 6), "similarity": round(self.similarity, 6), "start": self.start,
            "end": self.end, "text": self.text, "publisher": self.publisher, "url": self.url,
        }


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
    raise InvalidQuery(f"{name} must be a date written YYYY-MM-DD, got {value!r}")


def check_query(query: object) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidQuery("the question is empty: type a question, e.g. 'Who handed Alec Baldwin the gun?'")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"the question is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}")
    return query.strip()


def rrf(rankings: Sequence[Sequence[int]], weights: Sequence[float] | None = None, k0: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: sum of weight / (k0 + rank) over the rankings an item is in."""
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


class Index:
    """An opened index with its embedder: hold one to search many times without reloading.

    >>> idx = Index.open("vectorstore")
    >>> idx.search("Who handed Alec Baldwin the gun?", k=3)[0].source
    '004_3895aaea98e54197.txt'
    """

    def __init__(self, store: Store, embedder: Embedder, settings: Settings):
        self.store, self.embedder, self.settings = store, embedder, settings
        self._days = store.chunk_dates()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str | None = None, *, settings: Settings | None = None,
             embedder: Embedder | None = None) -> Index:
        """Open the index at ``path`` (default: ``settings.index``), loading the model it was built with."""
        settings = settings or Settings()
        root = Path(path) if path is not None else settings.index
        embedder = embedder or load_embedder(settings.model)
        store = Store.open(root, model=embedder.name, dimension=embedder.dimension)
        return cls(store, embedder, settings)

    def refresh(self) -> bool:
        """Reload if another process (or an upload) made a newer generation live; True if it did."""
        gen = current_generation(self.store.root)
        if gen is None or gen == self.store.generation:
            return False
        with self._lock:
            if gen != self.store.generation:
                self.store = Store.open(self.store.root, model=self.embedder.name, dimension=self.embedder.dimension)
                self._days = self.store.chunk_dates()
        return True

    # -- facts about the index, for status lines and filters -------------------------------
    @property
    def articles(self) -> list[Article]:
        return self.store.articles

    def stats(self) -> dict:
        dates = [a.date for a in self.store.articles if a.date]
        return {
            "articles": len(self.store.articles), "chunks": len(self.store), "model": self.store.model,
            "kind": self.store.kind, "first_date": min(dates).isoformat() if dates else None,
            "last_date": max(dates).isoformat() if dates else None,
        }

    # -- search -------------------------------------------------------------------------------
    def allowed(self, since: dt.date | None = None, until: dt.date | None = None,
                sources: Iterable[str] | None = None, publishers: Iterable[str] | None = None) -> np.ndarray | None:
        """Chunk ids that pass the filters, or None when nothing is filtered."""
        if since is None and until is None and not sources and not publishers:
            return None
        keep = np.ones(len(self.store), dtype=bool)
        if since is not None:
            keep &= (self._days >= (since - _EPOCH).days)
        if until is not None:
            keep &= (self._days <= (until - _EPOCH).days) & (self._days >= 0)
        if sources or publishers:
            src, pub = set(sources or ()), {p.casefold() for p in publishers or ()}
            ok = np.array([a.source in src or (a.publisher or "").casefold() in pub for a in self.store.articles])
            keep &= ok[self.store.rows[:, 0]] if len(self.store) else keep
        return np.flatnonzero(keep)

    def search(self, query: str, k: int = 5, *, since: dt.date | str | None = None, until: dt.date | str | None = None,
               sources: Iterable[str] | None = None, publishers: Iterable[str] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``; filters apply before the top ``k`` is chosen."""
        query = check_query(query)
        if not isinstance(k, int) or k < 1:
            raise InvalidQuery(f"k must be a whole number of at least 1, got {k!r}")
        since, until = parse_day(since, "since"), parse_day(until, "until")
        if since and until and since > until:
            raise InvalidQuery(f"since ({since}) is after until ({until}): nothing can match")
        allowed = self.allowed(since, until, sources, publishers)
        if allowed is not None and len(allowed) == 0:
            return []
        qvec = self.embedder.encode([query])[0]
        ranked, fused = self._rank(query, qvec, k, allowed)
        return self._hits(ranked[:k], fused, qvec)

    def _rank(self, query: str, qvec: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[list[int], dict[int, float]]:
        s = self.settings
        depth = max(50, 4 * k)
        rankings, weights = [], []
        if s.dense or not (s.lexical and self.store.lexical):
            _, ids = self.store.search(qvec, depth, allowed)
            rankings.append([int(i) for i in ids])
            weights.append(1.0)
        if s.lexical and self.store.lexical is not None:
            _, ids = self.store.lexical.search(query, depth, allowed)
            rankings.append([int(i) for i in ids])
            weights.append(1.0)
        fused = rrf(rankings, weights)
        ranked = sorted(fused, key=lambda i: (-fused[i], i))
        ranked = cap_per_article(ranked, self.store.rows[:, 0], s.per_article)
        return ranked, fused

    def _hits(self, ids: Sequence[int], fused: dict[int, float], qvec: np.ndarray) -> list[Hit]:
        if not ids:
            return []
        vecs = self.store.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
        sims = vecs @ qvec
        out = []
        for i, sim in zip(ids, sims):
            c, a = self.store.chunk(i), self.store.article(i)
            out.append(Hit(c.text, c.source, c.date, c.title, float(fused.get(i, sim)), c.start, c.end,
                           a.id, a.publisher, a.url, float(sim), int(i)))
        return out


def index_corpus(paths: Sequence[Path | str] | None = None, *, settings: Settings | None = None,
                 rebuild: bool = False, progress: bool = False, embedder: Embedder | None = None) -> IndexReport:
    """Index the articles under ``paths`` into ``settings.index``; only new or changed ones are embedded.

    Without ``paths``: the paths the index was last built from, or ``settings.corpus``.
    """
    settings = settings or Settings()
    if not paths:
        paths = _recorded_paths(settings.index) or [settings.corpus]
    corpus = load_corpus(paths)
    embedder = embedder or load_embedder(settings.model)
    return build_index(
        corpus, settings.index, embedder,
        ChunkingConfig(settings.chunk_tokens or embedder.max_tokens, settings.overlap_tokens),
        rebuild=rebuild, kind=settings.index_kind, approximate_threshold=settings.approximate_threshold,
        batch_size=settings.batch_size, progress=progress,
        corpus_paths=[str(Path(p).resolve()) for p in paths], lexical=True,
    )


def _recorded_paths(root: Path) -> list[str]:
    try:
        gen = current_generation(root)
    except Exception:
        return []
    if gen is None:
        return []
    import json

    try:
        paths = json.loads((gen / "manifest.json").read_text()).get("corpus_paths", [])
    except (OSError, ValueError):
        return []
    return [p for p in paths if Path(p).exists()]


@functools.lru_cache(maxsize=8)
def _open_cached(root: str, settings: Settings) -> Index:
    return Index.open(root, settings=settings)


def retrieve(query: str, k: int = 5, *, since: dt.date | str | None = None, until: dt.date | str | None = None,
             index: Path | str | None = None, settings: Settings | None = None) -> list[Hit]:
    """The ``k`` passages that best answer ``query``, each with its source file and publication date.

    ``since``/``until`` (a date or ``YYYY-MM-DD``, both inclusive) restrict the
    articles searched before the top ``k`` is chosen. ``index`` names an index
    directory (default ``vectorstore/``); the default index is built from
    ``seeds/`` on first use. The model and index load once per process.

    >>> hits = retrieve("Who handed Alec Baldwin the gun?", k=3)
    >>> hits[0].source, hits[0].date
    ('004_3895aaea98e54197.txt', datetime.date(2021, 12, 2))
    """
    settings = settings or Settings()
    check_query(query)  # bad input is refused before anything loads
    parse_day(since, "since"), parse_day(until, "until")
    return open_index(index, settings).search(query, k, since=since, until=until)


def open_index(index: Path | str | None, settings: Settings) -> Index:
    """The process-wide opened index at ``index`` (default ``settings.index``).

    Only the default index is built from ``settings.corpus`` when absent: an
    index named explicitly must exist.
    """
    root = Path(index) if index is not None else settings.index
    if current_generation(root) is None:
        if index is None and Path(settings.corpus).exists():
            index_corpus([settings.corpus], settings=settings)
        else:
            raise IndexNotFound(f"no index at {root}/: build one with 'rag index [PATH ...] --index {root}'")
    idx = _open_cached(str(root.resolve()), settings)
    idx.refresh()
    return idx
