"""PostgreSQL connections for the store and its writer: the driver, the server's pgvector, the meta table, keys.

What both ``rag.pgstore`` (reading) and ``rag.pgwrite`` (writing) need before
either touches a chunk: the optional driver imported on first use (so the
default install needs none), pgvector's version and the features it decides
(``Features``: HNSW from 0.5, iterative index scans from 0.8), the meta table
read and checked, the stable 64-bit keys of articles and chunks, and URLs shown
without their passwords.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .corpus import Article
from .errors import IndexCorrupt, RagError
from .manifest import FORMAT_VERSION

__all__ = ["Features", "connect", "features", "read_meta", "redact", "article_key", "chunk_key", "as_array",
           "article_from_row", "PGVECTOR_MIN", "HNSW_SINCE", "ITERATIVE_SINCE", "HNSW_M", "HNSW_EF_CONSTRUCTION"]

#: The HNSW graph. pgvector's defaults (m 16, ef_construction 64) reached recall@10 0.82-0.87 at ef_search 128 on
#: bench_scale's 200k vectors (0.95 needed ef_search 400); m 32, ef_construction 128 reached 0.99 at 128
#: (about 2 ms), for a graph 4% larger that builds 3.5-4x as slowly (80-99 s for 200k here). docs/benchmarks.md.
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 128
PGVECTOR_MIN, HNSW_SINCE, ITERATIVE_SINCE = (0, 4, 0), (0, 5, 0), (0, 8, 0)
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
