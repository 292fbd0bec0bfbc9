"""Manifest: what an index directory records on disk, read and checked before anything is loaded.

An index directory names its live generation in ``CURRENT`` and keeps its corpus
paths in ``SOURCES`` beside it; each generation's ``manifest.json`` records the
format, model, encoder, dimension and every file's size and checksum (the layout
is in ``rag.store``). Reading these is separate from loading the vectors, so the
command line can say which paths and encoder an index was built with, and both
writers (FAISS and PostgreSQL) can refuse vectors of another model, without
opening FAISS or the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from .embedding import interchangeable
from .errors import IndexCorrupt, ModelMismatch, RagError
from .sources import UPLOADS_DIR

__all__ = ["FORMAT_VERSION", "current_generation", "recorded_paths", "recorded_encoder", "built_with",
           "check_model"]

FORMAT_VERSION = 1
_CURRENT = "CURRENT"
_SOURCES = "SOURCES"
_FILES = ("manifest.json", "articles.jsonl", "chunks.npy", "index.faiss")
_GENERATION = re.compile(r"gen-[0-9A-Za-z]+")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _corrupt(path: Path, what: str) -> IndexCorrupt:
    return IndexCorrupt(f"index file {path} is {what}; rebuild it with 'rag index --rebuild'")


def current_generation(root: Path) -> Path | None:
    """The live generation directory of the index at ``root``, or None if there is none."""
    path = root / _CURRENT
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _corrupt(path, f"unreadable ({e.strerror or e})") from e
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise _corrupt(path, "damaged (it holds bytes that are not text)") from e
    if not _GENERATION.fullmatch(name) or not (root / name).is_dir():
        raise _corrupt(path, f"pointing at a missing generation {name[:80]!r}")
    return root / name


def _check_manifest(m: object, path: Path) -> dict:
    """``m`` if it has every field Store.open reads, of the right type; IndexCorrupt naming ``path`` if not."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise _corrupt(path, f"damaged ({what})")

    def count(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    need(isinstance(m, dict), "not a JSON object")
    version = m.get("format_version")
    if not (count(version) and version == FORMAT_VERSION):
        raise IndexCorrupt(f"index at {path.parent.parent}/ has format {version!r}, this Dateline reads "
                           f"{FORMAT_VERSION}; rebuild it with 'rag index --rebuild'")
    need(isinstance(m.get("model"), str) and m["model"] != "", "no model name")
    need(count(m.get("dimension")) and m["dimension"] > 0, "no vector dimension")
    need(isinstance(m.get("chunking"), dict), "no chunking settings")
    need(m.get("index_kind") in ("flat", "hnsw"), "no index kind")
    files = m.get("files")
    need(isinstance(files, dict) and all(f in files for f in _FILES[1:]), "the list of files is incomplete")
    for name, meta in files.items():
        need(isinstance(name, str) and not name.startswith("/") and ".." not in name.split("/")
             and isinstance(meta, dict) and count(meta.get("size")) and isinstance(meta.get("sha256"), str),
             f"file entry {str(name)[:80]!r}")
    for key, kind in (("corpus_paths", list), ("articles", dict), ("origins", dict)):
        need(m.get(key) is None or isinstance(m[key], kind), f"'{key}' is not a {kind.__name__}")
    need(all(isinstance(p, str) for p in m.get("corpus_paths") or []), "a corpus path is not text")
    need(all(isinstance(k, str) and isinstance(v, str) for k, v in (m.get("origins") or {}).items()),
         "an origin is not text")
    need(m.get("encoder") is None or isinstance(m["encoder"], str), "the encoder is not text")
    return m


def recorded_paths(root: Path) -> list[str] | None:
    """The corpus paths the index at ``root`` was built from (uploads aside); None if nothing records them.

    Read from the live manifest, or, when that is damaged, from the SOURCES
    file beside CURRENT, which every write updates as well.
    """
    try:
        gen = current_generation(root)
        if gen is not None:
            m = _check_manifest(json.loads((gen / "manifest.json").read_text(encoding="utf-8")), gen / "manifest.json")
            if m.get("corpus_paths") is not None:
                return _own_paths(root, m["corpus_paths"])
    except (RagError, OSError, ValueError):
        pass
    try:
        paths = json.loads((root / _SOURCES).read_text(encoding="utf-8"))["corpus_paths"]
        if isinstance(paths, list) and all(isinstance(p, str) for p in paths):
            return _own_paths(root, paths)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _own_paths(root: Path, paths: Sequence[str]) -> list[str]:
    """``paths`` without this index's uploads folder (older indexes recorded it; it is always read now)."""
    uploads = str((root / UPLOADS_DIR).resolve())
    return [p for p in paths if p != uploads]


def built_with(manifest: dict) -> str:
    """The encoder that made an index's vectors; indexes from before it was recorded were made by torch."""
    return manifest.get("encoder") or "torch"


def recorded_encoder(root: Path | str) -> str | None:
    """The encoder that built the live index at ``root``; None if there is none, or it cannot be read
    (opening it then says what is wrong)."""
    try:
        gen = current_generation(Path(root))
        if gen is None:
            return None
        mpath = gen / "manifest.json"
        return built_with(_check_manifest(json.loads(mpath.read_text(encoding="utf-8")), mpath))
    except (RagError, OSError, ValueError, RecursionError):
        return None


def check_model(manifest: dict, root: Path, model: str | None, dimension: int | None,
                encoder: str | None = None) -> None:
    """Refuse an index whose vectors come from another model, another encoder's numbers, or have another size."""
    if model is not None and manifest["model"] != model:
        raise ModelMismatch(
            f"index at {root}/ was built with model '{manifest['model']}' but '{model}' is configured; "
            f"use the same model, or rebuild with 'rag index --rebuild'"
        )
    if dimension is not None and manifest["dimension"] != dimension:
        raise ModelMismatch(
            f"index at {root}/ holds {manifest['dimension']}-dimensional vectors but model '{model}' makes "
            f"{dimension}-dimensional ones; rebuild with 'rag index --rebuild'"
        )
    if encoder is not None and not interchangeable(built_with(manifest), encoder):
        raise ModelMismatch(
            f"index at {root}/ was built with the {built_with(manifest)} encoder but {encoder} is configured, and "
            f"their vectors differ; set DATELINE_ENCODER={built_with(manifest)}, or rebuild with 'rag index --rebuild'"
        )
