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
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import math
import re
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .chunking import Chunk, split_sentences
from .corpus import Article
from .errors import IndexCorrupt, IndexNotFound, RagError
from .query import PublisherMatcher
from .store import FORMAT_VERSION, HNSW_EF_SEARCH, check_model

__all__ = ["PgStore", "PgSelection", "Where", "connect", "redact", "article_key", "chunk_key", "features",
           "EXACT_ROWS", "EXACT_POSTINGS", "CANDIDATE_POSTINGS"]

#: A filter keeping at most this many chunks is scored exactly (2.5 µs a row: about 50 ms here at the limit).
EXACT_ROWS = 20_000
#: hnsw.ef_search is set to EF_SLACK * k / (share of rows the filter keeps), within pgvector's limit.
EF_SLACK = 2.0
HNSW_EF_MAX = 1000
#: The HNSW graph: pgvector's defaults (m 16, ef_construction 64); the FAISS store's M 32 builds twice as slowly.
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
#: BM25: every chunk holding a question term is scored while they number at most EXACT_POSTINGS (summed over the
#: terms); past that, the chunks of the rarest terms, up to CANDIDATE_POSTINGS (see PgLexical).
EXACT_POSTINGS = 200_000
CANDIDATE_POSTINGS = 20_000
K1, B = 1.5, 0.75  # bm25s's defaults (method "lucene")
PGVECTOR_MIN, HNSW_SINCE, ITERATIVE_SINCE = (0, 4, 0), (0, 5, 0), (0, 8, 0)
_ARTICLE_CACHE = 50_000
_ARTICLE_COLUMNS = ("id, source, content_id, title, published, publisher_id, url, author, date_source, "
                    "date_confidence, updated, excerpt, body")


def redact(url: str) -> str:
    """``url`` with its password (in the address or a ``password=`` parameter) hidden, fit for messages.

    >>> redact("postgresql://ann:s3cret@db.example/news?password=s3cret&sslmode=require")
    'postgresql://ann:***@db.example/news?password=***&sslmode=require'
    """
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("://", 1)[0] + "://…"
    if password:
        user, host = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}")
    if "password=" in parts.query:
        parts = parts._replace(query=re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query))
    return urllib.parse.urlunsplit(parts)


def _key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def article_key(source: str) -> int:
    """An article's stable 64-bit id: a hash of its citation key, the same on every machine and every run."""
    return _key("article\x00" + source)


def chunk_key(content_id: str, start: int, end: int) -> int:
    """A chunk's stable 64-bit id: a hash of its article's content id and its offsets."""
    return _key(f"chunk\x00{content_id}\x00{start}\x00{end}")


@dataclass(frozen=True)
class Features:
    """What the server offers: pgvector's version decides HNSW (0.5) and iterative index scans (0.8)."""

    pgvector: tuple[int, ...]
    server: str = ""

    @property
    def hnsw(self) -> bool:
        return self.pgvector >= HNSW_SINCE

    @property
    def iterative(self) -> bool:
        return self.pgvector >= ITERATIVE_SINCE


def _psycopg():
    try:
        import psycopg
        from pgvector.psycopg import register_vector  # noqa: F401
    except ImportError as e:
        raise RagError("a postgresql:// index needs the PostgreSQL driver: pip install 'dateline[scale]'") from e
    return psycopg


def connect(url: str, *, application_name: str = "dateline"):
    """An autocommit connection to ``url``; RagError naming the server (password hidden) if it cannot be made."""
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(url, autocommit=True, application_name=application_name, connect_timeout=10)
    except psycopg.Error as e:
        why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise RagError(f"cannot connect to the PostgreSQL index at {redact(url)}: {why}") from e
    if features(conn) is not None:
        _register(conn)
    return conn


def _register(conn) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)


def features(conn) -> Features | None:
    """The server's pgvector version, or None when the extension is not installed in this database."""
    row = conn.execute("SELECT extversion, current_setting('server_version') FROM pg_extension "
                       "WHERE extname = 'vector'").fetchone()
    if row is None:
        return None
    version = tuple(int(p) for p in row[0].split("-")[0].split(".") if p.isdigit())
    return Features(version, row[1])


def read_meta(conn) -> dict | None:
    """The index's meta table as a dict; None when the database holds no Dateline index (no meta table, or
    tables made ready for one and not written yet)."""
    if conn.execute("SELECT to_regclass('dateline_meta')").fetchone()[0] is None:
        return None
    return {k: v for k, v in conn.execute("SELECT key, value FROM dateline_meta")} or None


def _check_meta(meta: dict, shown: str) -> dict:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise IndexCorrupt(f"the index at {shown} is damaged ({what}); rebuild it with 'rag index --rebuild'")

    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexCorrupt(f"index at {shown} has format {version!r}, this Dateline reads {FORMAT_VERSION}; "
                           f"rebuild it with 'rag index --rebuild'")
    need(isinstance(meta.get("model"), str) and meta["model"] != "", "no model name")
    need(isinstance(meta.get("dimension"), int) and meta["dimension"] > 0, "no vector dimension")
    need(isinstance(meta.get("chunking"), dict), "no chunking settings")
    need(meta.get("index_kind") in ("flat", "hnsw"), "no index kind")
    need(isinstance(meta.get("counts"), dict) and all(isinstance(meta["counts"].get(c), int)
                                                      for c in ("articles", "chunks", "terms")), "no counts")
    need(isinstance(meta.get("version"), int), "no version")
    return meta


def as_array(vector) -> np.ndarray:
    """A pgvector value as float32 numbers (the driver returns ``Vector`` objects or arrays)."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)


def article_from_row(r: Sequence, publishers: dict[int, str]) -> Article:
    """An Article from a row of ``SELECT {_ARTICLE_COLUMNS}``."""
    return Article(r[2], r[1], r[3], r[4], r[12], publisher=publishers.get(r[5]), url=r[6], author=r[7],
                   date_source=r[8] or "", date_confidence=r[9] or "", updated=r[10], excerpt=bool(r[11]))


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
