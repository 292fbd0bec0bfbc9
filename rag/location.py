"""Index locations: a directory (the FAISS store, the default) or a ``postgresql://`` URL (PostgreSQL + pgvector).

Everything that takes an index (``rag index --index``, ``retrieve(index=...)``,
``answer(index=...)``, ``rag serve --index``, ``DATELINE_INDEX``) goes through
these functions, which pick the store by the location's form. The PostgreSQL
store is imported only for a URL, so the default install needs no driver.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import InvalidQuery
from .settings import is_database
from .sources import UPLOADS_DIR
from .faisswrite import build_index
from .manifest import current_generation
from .manifest import recorded_encoder as _faiss_encoder
from .manifest import recorded_paths as _faiss_paths
from .store import Store

__all__ = ["Location", "location", "shown", "exists", "open_store", "recorded_encoder", "recorded_paths",
           "local_dir", "uploads_dir", "write_index", "cache_key", "is_database"]

Location = Path | str


def location(value: object) -> Location:
    """``value`` as an index location: a URL stays text, anything else is a directory; InvalidQuery if it is
    neither a path nor text."""
    if isinstance(value, str) and is_database(value):
        return value.strip()
    if not isinstance(value, (str, os.PathLike)) or "\x00" in str(value):
        raise InvalidQuery(f"index must be the path of an index directory or a postgresql:// URL, got {value!r:.60}")
    return Path(value)


def shown(loc: Location) -> str:
    """How a location is named in messages: a directory with its slash, a URL without its password."""
    if is_database(loc):
        from .pgconnect import redact

        return redact(str(loc))
    return f"{loc}/"


def exists(loc: Location) -> bool:
    """Whether an index has been written at ``loc``."""
    if is_database(loc):
        from .pgconnect import connect, read_meta

        conn = connect(str(loc))
        try:
            return read_meta(conn) is not None
        finally:
            conn.close()
    return current_generation(Path(loc)) is not None


def open_store(loc: Location, *, model: str | None = None, dimension: int | None = None, encoder: str | None = None):
    """The store at ``loc`` (``Store`` or ``PgStore``), refusing another model's or encoder's vectors."""
    if is_database(loc):
        from .pgstore import PgStore

        return PgStore.open(str(loc), model=model, dimension=dimension, encoder=encoder)
    return Store.open(Path(loc), model=model, dimension=dimension, encoder=encoder)


def _database_meta(url: str) -> dict | None:
    """The meta table of the index in the database at ``url``; None if there is none or it cannot be read."""
    from .errors import RagError
    from .pgconnect import connect, read_meta

    try:
        conn = connect(url)
    except RagError:
        return None
    try:
        return read_meta(conn)
    finally:
        conn.close()


def recorded_encoder(loc: Location) -> str | None:
    """The encoder that built the index at ``loc``; None if there is none or it cannot be read."""
    if is_database(loc):
        from .manifest import built_with

        meta = _database_meta(str(loc))
        return built_with(meta) if meta is not None and isinstance(meta.get("encoder"), (str, type(None))) else None
    return _faiss_encoder(Path(loc))


def recorded_paths(loc: Location) -> list[str] | None:
    """The corpus paths the index at ``loc`` was built from (uploads aside); None if nothing records them."""
    if is_database(loc):
        meta = _database_meta(str(loc))
        paths = meta.get("corpus_paths") if meta is not None else None
        return list(paths) if isinstance(paths, list) and all(isinstance(p, str) for p in paths) else None
    return _faiss_paths(Path(loc))


def local_dir(loc: Location) -> Path:
    """The index's folder on this machine: the index directory itself; for a URL, a folder named after the
    database (``$XDG_DATA_HOME/dateline/indexes/<digest of the URL without its password>``)."""
    if is_database(loc):
        from .pgconnect import redact

        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        return base / "dateline" / "indexes" / hashlib.sha256(redact(str(loc)).encode()).hexdigest()[:16]
    return Path(loc)


def uploads_dir(loc: Location) -> Path:
    """Where files uploaded to the index at ``loc`` are kept: ``uploads/`` in its local folder (``local_dir``)."""
    return local_dir(loc) / UPLOADS_DIR


def cache_key(loc: Location) -> str:
    """One key per index, however it is written (a directory resolved, a URL as given)."""
    return str(loc) if is_database(loc) else str(Path(loc).resolve())


def write_index(corpus, loc: Location, embedder, chunking, **kwargs):
    """``rag.faisswrite.build_index`` for a directory, ``rag.pgwrite.build_pg_index`` for a URL; same arguments."""
    if is_database(loc):
        from .pgwrite import build_pg_index

        return build_pg_index(corpus, str(loc), embedder, chunking, **kwargs)
    return build_index(corpus, Path(loc), embedder, chunking, **kwargs)
