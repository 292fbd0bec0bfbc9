"""Filters of the PostgreSQL store: which chunks a search may return, as SQL, and what ranking asks of them.

``Where`` writes a date window, publishers and named articles as SQL over the
columns every chunk row carries (so they filter through the date and publisher
indexes, before the top k); ``PgSelection`` is such a filter with the number of
chunks it keeps, counted from per-day totals rather than a scan, which is how the
store chooses an exact scan or the HNSW walk. ``PgFacts`` answers for a
``PgStore`` what ``rag.retrieval._Facts`` answers for the FAISS store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .pgconnect import article_key
from .query import PublisherMatcher

if TYPE_CHECKING:
    from .pgstore import PgStore

__all__ = ["Where", "PgSelection", "PgFacts"]


@dataclass(frozen=True)
class Where:
    """Which chunks a search may return: those whose article passes every clause set here.

    ``window``: published within it (ends inclusive, either open; an undated
    article is in no window with an end). ``articles``/``by``: the article is one
    of these (keys) or its publisher one of these (ids); None for no such clause.
    ``publishers``: the publisher is one of these. ``windows``: in one of them.
    """

    window: tuple[dt.date | None, dt.date | None] | None = None
    articles: frozenset[int] | None = None
    by: frozenset[int] = frozenset()
    publishers: frozenset[int] | None = None
    windows: tuple[tuple[dt.date | None, dt.date | None], ...] = ()

    def sql(self, params: dict, *, names: str = "both", article_column: str = "article_id") -> str:
        """The clauses as SQL over columns ``published``, ``publisher_id`` and ``article_column``; values go into
        ``params``. ``names``: how to write the articles-or-publishers clause: "both", "publishers" (its
        publisher half only) or "not-publishers" (the article half, for articles not by those publishers)."""
        def value(v) -> str:
            name = f"w{len(params)}"
            params[name] = v
            return f"%({name})s"

        def window(w) -> str:
            lo, hi = w
            if lo is not None and hi is not None:
                return f"published BETWEEN {value(lo)} AND {value(hi)}"
            if lo is not None:
                return f"published >= {value(lo)}"
            return f"published <= {value(hi)}" if hi is not None else "TRUE"

        parts = []
        if self.window is not None:
            parts.append(window(self.window))
        if self.articles is not None:
            pub = f"coalesce(publisher_id, 0) = ANY({value(sorted(self.by))}::int[])"
            if names == "both":
                parts.append(f"({article_column} = ANY({value(sorted(self.articles))}::bigint[]) OR {pub})")
            elif names == "publishers":
                parts.append(pub)
            else:
                parts.append(f"{article_column} = ANY({value(sorted(self.articles))}::bigint[]) AND NOT {pub}")
        if self.publishers is not None:
            parts.append(f"coalesce(publisher_id, 0) = ANY({value(sorted(self.publishers))}::int[])")
        if self.windows:
            parts.append("(" + " OR ".join(window(w) for w in self.windows) + ")")
        return " AND ".join(parts) or "TRUE"


@dataclass(frozen=True)
class PgSelection:
    """The chunks a filter allows, as the store's search takes them; ``len()`` is how many there are."""

    where: Where
    count: int

    def __len__(self) -> int:
        return self.count


class PgFacts:
    """What ranking needs to know about a PostgreSQL store: its publishers, and filters as selections."""

    def __init__(self, store: PgStore):
        self.store = store
        names = sorted(store.publishers.values())
        self.matcher = PublisherMatcher(names) if names else None
        self._ids = {name: i for i, name in store.publishers.items()}
        self._folded: dict[str, set[int]] = {}
        for i, name in store.publishers.items():
            self._folded.setdefault(name.casefold(), set()).add(i)

    @property
    def article_of(self) -> np.ndarray:
        """Article number of every chunk id given out so far (``cap_per_article`` reads it)."""
        return self.store.article_of

    @property
    def order(self) -> np.ndarray:
        """Writing order of every chunk id given out so far: how ranking breaks ties."""
        return self.store.order

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self.store.reading():
            yield

    def allowed(self, since: dt.date | None, until: dt.date | None, sources: set[str], publishers: set[str]):
        """As ``rag.retrieval._Facts.allowed``: in the window, and (when named) one of ``sources`` or by one of
        ``publishers`` (compared case-folded)."""
        where = Where(window=(since, until) if since or until else None)
        if sources or publishers:
            by = frozenset(i for p in publishers for i in self._folded.get(p, ()))
            where = dataclasses.replace(where, articles=frozenset(article_key(s) for s in sources), by=by)
        return PgSelection(where, self.store.count(where))

    def select(self, publishers: Iterable[str], windows: Sequence[tuple[dt.date | None, dt.date | None]],
               allowed: PgSelection | None) -> PgSelection | None:
        """As ``rag.retrieval._Facts.select``: a date no allowed chunk of those publishers has is dropped."""
        publishers = set(publishers)
        if not publishers and not windows:
            return None
        base = allowed.where if allowed is not None else Where()
        if publishers:
            base = dataclasses.replace(base, publishers=frozenset(self._ids[p] for p in publishers if p in self._ids))
        if windows:
            dated = dataclasses.replace(base, windows=tuple(windows))
            if self.store.count(dated):
                base = dated
            elif not publishers:
                return None
        n = self.store.count(base)
        return PgSelection(base, n) if n else None
