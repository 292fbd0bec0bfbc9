"""Store on PostgreSQL + pgvector: the index of ``rag.store`` kept in tables, for archives past one machine.

An index location ``postgresql://...`` names a database; one index per database,
or per schema (``?options=-csearch_path%3Dnews,public``). The tables::

    dateline_meta        key -> jsonb: format, model, encoder, dimension, chunking, kind, corpus paths,
                         counts, and ``version``, raised by every write (readers reload when it moves)
    dateline_publishers  id -> publisher name
    dateline_articles    one row per article, keyed by a stable 64-bit id (from its citation key): content
                         id, metadata, text, the path it came from, its number of chunks
    dateline_chunks      one row per chunk, keyed by (article id, stable 64-bit chunk id): offsets, the
                         article's publication date and publisher (so date windows and publishers filter
                         chunks through an index), the vector, and its BM25 terms as a tsvector
    dateline_terms       term -> chunks holding it (BM25's document frequencies)
    dateline_days        (publication date, publisher) -> chunks: how many rows a filter keeps

Searching mirrors the FAISS store. Vectors: a filter keeping few rows
(``EXACT_ROWS``) is scored exactly, every allowed vector through the date index;
otherwise the HNSW index is walked with ``hnsw.ef_search`` raised in proportion
to how much the filter drops, and when the walk still finds fewer than k
allowed rows (pgvector before 0.8 filters after the walk) the search is redone
exactly, so k rows come back whenever k exist. Words: candidates are the chunks
whose terms match the question's (``@@``), re-scored with bm25s's BM25 from the
statistics kept in the tables, so the ranking equals the FAISS store's.

Chunk ids handed to ``rag.retrieval`` are small numbers given out by this
process as chunks are first met (the database's keys are 64-bit), so
``rows``, ``article_of`` and ``Hit.chunk`` mean what they mean for FAISS.

The store is four modules: this one (opening, snapshots, chunk ids, articles,
vector search), ``rag.pgconnect`` (driver, server features, meta table, keys),
``rag.pgfilters`` (filters as SQL and their counts; ``PgFacts``) and
``rag.pglexical`` (BM25 and sentence matching in SQL); ``rag.pgwrite`` writes.

>>> import datetime
>>> from rag.pgfilters import Where
>>> params = {}
>>> Where(window=(datetime.date(2022, 1, 1), None), publishers=frozenset({3})).sql(params)
'published >= %(w0)s AND coalesce(publisher_id, 0) = ANY(%(w1)s::int[])'
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .chunking import Chunk
from .corpus import Article
from .errors import IndexCorrupt, IndexNotFound, RagError
from .pgconnect import (
    _ARTICLE_COLUMNS, Features, _check_meta, _psycopg, article_from_row, article_key, as_array, connect, features,
    read_meta, redact,
)
from .pgfilters import PgFacts, PgSelection, Where
from .pglexical import PgLexical
from .manifest import check_model
from .store import HNSW_EF_SEARCH

__all__ = ["PgStore", "PgSelection", "PgFacts", "Where", "EXACT_ROWS"]

#: A filter keeping at most this many chunks is scored exactly (2.5 µs a row: about 50 ms here at the limit).
EXACT_ROWS = 20_000
#: hnsw.ef_search is set to EF_SLACK * k / (share of rows the filter keeps), within pgvector's limit.
EF_SLACK = 2.0
HNSW_EF_MAX = 1000
_ARTICLE_CACHE = 50_000


class PgStore:
    """A PostgreSQL + pgvector index as one snapshot: reopened (``reopen``) when its version moves.

    ``exact_rows`` (default ``EXACT_ROWS``) is the most allowed chunks scored
    exactly before the HNSW index is tried; ``route`` says how the last vector
    search went: "exact", "hnsw", or "hnsw+exact" when the walk found too few.
    """

    exact_rows = EXACT_ROWS
    route = ""

    def __init__(self, url: str, meta: dict, feats: Features, publishers: dict[int, str]):
        self.url, self.manifest, self.features, self.publishers = url, meta, feats, publishers
        self.lexical = PgLexical(self)
        self._local = threading.local()
        self._lock = threading.RLock()
        self._chunk_handle: dict[tuple[int, int], int] = {}
        self._chunk_keys: list[tuple[int, int]] = []
        self._rows = np.zeros((256, 4), dtype=np.int64)  # per chunk handle: article handle, start, end, position
        self._seq = np.zeros(256, dtype=np.int64)  # per chunk handle: its place in writing order (ties go by it)
        self._article_handle: dict[int, int] = {}
        self._article_keys: list[int] = []
        self._articles: collections.OrderedDict[int, Article] = collections.OrderedDict()
        self._counts: dict[Where, int] = {}
        self._all: list[Article] | None = None
        self._all_rows: np.ndarray | None = None
        self._span: tuple[str | None, str | None] | None = None

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, model: str | None = None, dimension: int | None = None,
             encoder: str | None = None) -> PgStore:
        """The index in the database at ``url``; refuses one built with another model or another encoder's
        vectors, as ``Store.open`` does. IndexNotFound when the database holds none."""
        shown = redact(url)
        conn = connect(url)
        try:
            meta = read_meta(conn)
            feats = features(conn)
            if meta is None:
                raise IndexNotFound(f"no index at {shown}: build one with 'rag index [PATH ...] --index {shown}'")
            if feats is None:
                raise IndexCorrupt(f"the database at {shown} holds a Dateline index but not the pgvector extension; "
                                   f"run CREATE EXTENSION vector there")
            _check_meta(meta, shown)
            check_model(meta, shown, model, dimension, encoder)
            publishers = {i: n for i, n in conn.execute("SELECT id, name FROM dateline_publishers")}
        finally:
            conn.close()
        return cls(url, meta, feats, publishers)

    def reopen(self, *, model: str | None = None, dimension: int | None = None, encoder: str | None = None) -> PgStore:
        return PgStore.open(self.url, model=model, dimension=dimension, encoder=encoder)

    def facts(self) -> PgFacts:
        return PgFacts(self)

    @property
    def root(self) -> str:
        """The URL of the index (``Store.root`` is its directory)."""
        return self.url

    location = root

    @property
    def generation(self) -> int:
        return self.manifest["version"]

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def kind(self) -> str:
        return self.manifest["index_kind"]

    def __len__(self) -> int:
        return self.manifest["counts"]["chunks"]

    def version(self) -> int:
        """The version the database is at now (raised by every write)."""
        row = self._execute("SELECT value FROM dateline_meta WHERE key = 'version'").fetchone()
        return row[0] if row else -1

    def stale(self) -> bool:
        """Whether a write has changed the index since this snapshot was read."""
        return self.version() != self.generation

    # -- connections ---------------------------------------------------------------------------
    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = connect(self.url)
        return conn

    def _execute(self, sql: str, params=None):
        psycopg = _psycopg()
        try:
            return self._conn().execute(sql, params)
        except psycopg.OperationalError as e:
            self._local.conn = None  # the server went away or restarted: connect afresh next time
            raise RagError(f"the PostgreSQL index at {redact(self.url)} cannot be read: "
                           f"{str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}") from e

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Run everything inside in one read-only snapshot of the database (nested calls join it)."""
        conn = self._conn()
        from psycopg.pq import TransactionStatus

        if conn.info.transaction_status != TransactionStatus.IDLE:
            yield
            return
        self._execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            if not conn.closed:
                conn.execute("ROLLBACK")

    # -- chunk ids: small numbers for the database's 64-bit keys --------------------------------
    def _intern(self, rows: Iterable[Sequence[int]]) -> np.ndarray:
        """Chunk ids for rows (article key, chunk key, start, end, position, seq), given out on first sight."""
        out = []
        with self._lock:
            for ak, ck, start, end, pos, seq in rows:
                h = self._chunk_handle.get((ak, ck))
                if h is None:
                    h = len(self._chunk_keys)
                    self._chunk_keys.append((ak, ck))
                    self._chunk_handle[(ak, ck)] = h
                    if h >= len(self._rows):
                        self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
                        self._seq = np.concatenate([self._seq, np.zeros_like(self._seq)])
                    self._rows[h] = (self._article_number(ak), start, end, pos)
                    self._seq[h] = seq
                out.append(h)
        return np.asarray(out, dtype=np.int64)

    def _article_number(self, key: int) -> int:
        a = self._article_handle.get(key)
        if a is None:
            a = self._article_handle[key] = len(self._article_keys)
            self._article_keys.append(key)
        return a

    @property
    def article_of(self) -> np.ndarray:
        return self._rows[: len(self._chunk_keys), 0]

    @property
    def order(self) -> np.ndarray:
        """Per chunk id, its place in the order the chunks were written: equal scores are ranked by it, as
        the FAISS store ranks them by chunk id (its order of writing too), so both rank ties alike."""
        return self._seq[: len(self._chunk_keys)]

    # -- articles and chunks ---------------------------------------------------------------------
    def _article_from_row(self, r) -> Article:
        return article_from_row(r, self.publishers)

    def _fetch(self, keys: Iterable[int]) -> dict[int, Article]:
        """Articles by key, from the cache or the database; keys no longer there are left out."""
        keys = list(dict.fromkeys(keys))
        with self._lock:
            got = {k: self._articles[k] for k in keys if k in self._articles}
        missing = [k for k in keys if k not in got]
        if missing:
            for r in self._execute(f"SELECT {_ARTICLE_COLUMNS} FROM dateline_articles WHERE id = ANY(%s)", (missing,)):
                got[r[0]] = self._article_from_row(r)
            with self._lock:
                for k in missing:
                    if k in got:
                        self._articles[k] = got[k]
                while len(self._articles) > _ARTICLE_CACHE:
                    self._articles.popitem(last=False)
        return got

    def _article_at(self, number: int) -> Article:
        key = self._article_keys[number]
        got = self._fetch([key]).get(key)
        if got is None:
            raise RagError(f"an article of the index at {redact(self.url)} was removed while it was being read; ask again")
        return got

    def chunk(self, i: int) -> Chunk:
        number, start, end, pos = (int(x) for x in self._rows[i])
        a = self._article_at(number)
        return Chunk(a.id, a.source, a.date, a.title, start, end, a.text[start:end], pos)

    def article(self, i: int) -> Article:
        """The article that chunk ``i`` comes from."""
        return self._article_at(int(self._rows[i, 0]))

    def article_by_source(self, source: str) -> Article | None:
        a = self._fetch([article_key(source)]).get(article_key(source))
        return a if a is not None and a.source == source else None

    def chunk_ids(self, source: str) -> np.ndarray:
        """The chunk ids of the article cited as ``source``, in their order in the article."""
        rows = self._execute("SELECT article_id, id, start_char, end_char, position, seq FROM dateline_chunks "
                             "WHERE article_id = %s ORDER BY position", (article_key(source),)).fetchall()
        return self._intern(rows)

    def passages(self, ids: Sequence[int]) -> tuple[list[Chunk], list[Article], np.ndarray]:
        """Chunks ``ids``, their articles and their vectors, in the order given (as ``Store.passages``)."""
        ids = [int(i) for i in ids]
        keys = [self._chunk_keys[i] for i in ids]
        vecs = np.zeros((len(ids), self.manifest["dimension"]), dtype=np.float32)
        if ids:
            found = {(a, c): v for a, c, v in self._execute(
                "SELECT c.article_id, c.id, c.embedding FROM dateline_chunks c "
                "JOIN unnest(%s::bigint[], %s::bigint[]) AS k(a, c) ON c.article_id = k.a AND c.id = k.c",
                ([a for a, _ in keys], [c for _, c in keys]))}
            for n, key in enumerate(keys):
                if key in found:
                    vecs[n] = as_array(found[key])
            self._fetch(a for a, _ in keys)
        return [self.chunk(i) for i in ids], [self.article(i) for i in ids], vecs

    @property
    def articles(self) -> list[Article]:
        """Every article, numbered as ``rows[:, 0]`` numbers them. Reads the whole table once per snapshot:
        for an archive that fits in memory (the answer step's date and publisher lists use it)."""
        if self._all is None:
            got = {r[0]: self._article_from_row(r)
                   for r in self._execute(f"SELECT {_ARTICLE_COLUMNS} FROM dateline_articles ORDER BY id")}
            with self._lock:
                for key in got:
                    self._article_number(key)
                self._all = [got.get(k) or Article("", f"<removed {k}>", "", None, "") for k in self._article_keys]
        return self._all

    @property
    def rows(self) -> np.ndarray:
        """(n, 4) int64 per chunk id: article number (into ``articles``), start, end, position. Reads the
        whole chunk table once per snapshot: for archives that fit in memory."""
        if self._all_rows is None:
            self.articles  # noqa: B018  (numbers every article first)
            self._intern(self._execute("SELECT article_id, id, start_char, end_char, position, seq FROM dateline_chunks "
                                       "ORDER BY article_id, position"))
            self._all_rows = self._rows[: len(self._chunk_keys)].copy()
        return self._all_rows

    def sources(self) -> list[str]:
        return [r[0] for r in self._execute("SELECT source FROM dateline_articles ORDER BY source")]

    def origins(self) -> dict[str, str]:
        """The path each article came from, by source (``UPLOADS`` for uploaded ones)."""
        return {s: o for s, o in self._execute("SELECT source, origin FROM dateline_articles") if o}

    def stats(self) -> dict:
        if self._span is None:
            lo, hi = self._execute("SELECT min(published), max(published) FROM dateline_days").fetchone()
            self._span = (lo.isoformat() if lo else None, hi.isoformat() if hi else None)
        c = self.manifest["counts"]
        return {"articles": c["articles"], "chunks": c["chunks"], "model": self.model, "kind": self.kind,
                "first_date": self._span[0], "last_date": self._span[1]}

    # -- filters ---------------------------------------------------------------------------------
    def count(self, where: Where | None) -> int:
        """How many chunks ``where`` allows, from the per-day counts (and the articles named), not by a scan."""
        if where is None:
            return len(self)
        if where in self._counts:
            return self._counts[where]
        params: dict = {}
        n = self._execute(f"SELECT coalesce(sum(chunks), 0) FROM dateline_days "
                          f"WHERE {where.sql(params, names='publishers')}", params).fetchone()[0]
        if where.articles:
            params = {}
            n += self._execute(f"SELECT coalesce(sum(n_chunks), 0) FROM dateline_articles WHERE "
                               f"{where.sql(params, names='not-publishers', article_column='id')}", params).fetchone()[0]
        if len(self._counts) > 10_000:  # one entry per distinct filter: a server meets many
            self._counts.clear()
        self._counts[where] = int(n)
        return int(n)

    # -- search ----------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, allowed: PgSelection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, chunk ids) by inner product among ``allowed``; k rows whenever k are allowed."""
        where = allowed.where if allowed is not None else None
        n = len(self) if allowed is None else allowed.count
        k = min(k, n)
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        params: dict = {"q": np.ascontiguousarray(query, dtype=np.float32), "k": k}
        pred = where.sql(params) if where is not None else "TRUE"
        sql = (f"SELECT article_id, id, start_char, end_char, position, seq, embedding <#> %(q)s AS d "
               f"FROM dateline_chunks WHERE {pred} ORDER BY d")
        ef = math.ceil(EF_SLACK * k * len(self) / max(n, 1))
        rows = None
        with self.reading():
            self._execute("SET LOCAL jit = off")
            route = "exact"
            if self.kind == "hnsw" and self.features.hnsw and n > self.exact_rows and ef <= HNSW_EF_MAX:
                self._execute(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, k, ef)}")
                if self.features.iterative and where is not None:
                    self._execute("SET LOCAL hnsw.iterative_scan = strict_order")
                rows = self._execute(sql + " LIMIT %(k)s", params).fetchall()
                if self.features.iterative and where is not None:
                    self._execute("SET LOCAL hnsw.iterative_scan TO DEFAULT")
                route = "hnsw"
                if len(rows) < k:  # the walk found too few allowed rows: score them all
                    rows, route = None, "hnsw+exact"
            if rows is None:
                self._execute("SET LOCAL enable_indexscan = off")  # no HNSW: every allowed vector is scored
                rows = self._execute(sql + ", seq LIMIT %(k)s", params).fetchall()
                self._execute("SET LOCAL enable_indexscan TO DEFAULT")  # the rest of a search may walk the graph
            self.route = route
        rows.sort(key=lambda r: (r[6], r[5]))  # the graph walk orders by distance only
        ids = self._intern([r[:6] for r in rows])
        return -np.array([r[6] for r in rows], dtype=np.float32), ids
