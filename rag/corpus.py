"""Corpus: read dated articles from every file format Dateline knows, choosing the reader by file name.

Bad input never stops a run: each unreadable file or record is skipped with one
warning naming it and the reason, and the caller gets a summary. The formats and
their readers are listed in rag.readers; each article records where its date
came from (``date_source``) and how sure it is (``date_confidence``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import CorpusError
from .readers.base import (
    CONFIDENCES, DATE_SOURCES, MAX_FILE_BYTES, MAX_RECORD_BYTES, Article, Log, article_id, not_regular, parse_date,
)

__all__ = [
    "Article", "Corpus", "load_corpus", "load_file", "parse_date", "file_kind", "SUPPORTED_SUFFIXES",
    "DATE_SOURCES", "CONFIDENCES", "MAX_FILE_BYTES", "MAX_RECORD_BYTES", "article_id",
]

# file name ending -> (reader module in rag.readers, function); longest endings first
_READERS = {
    ".warc.gz": ("webarchive", "read_warc"), ".arc.gz": ("webarchive", "read_warc"),
    ".warc": ("webarchive", "read_warc"), ".arc": ("webarchive", "read_warc"),
    ".txt": ("text", "read_txt"),
    ".json": ("records", "read_json"), ".jsonl": ("records", "read_jsonl"), ".csv": ("records", "read_csv"),
    ".html": ("pages", "read_html"), ".htm": ("pages", "read_html"),
    ".xml": ("feeds", "read_feed"), ".rss": ("feeds", "read_feed"), ".atom": ("feeds", "read_feed"),
}
#: Every file name ending Dateline reads.
SUPPORTED_SUFFIXES = tuple(_READERS)
_COLLECTIONS = {"records", "feeds", "webarchive"}  # readers of files that hold many articles

_Log = Log  # the name rag.uploads imports


def file_kind(name: str) -> str | None:
    """The supported ending of ``name`` (``.warc.gz``, ``.html``, ...), or None if Dateline does not read it."""
    lower = name.lower()
    return next((end for end in _READERS if lower.endswith(end)), None)


@dataclass(frozen=True)
class Corpus:
    """Articles read from some paths, with what was skipped and why."""

    articles: tuple[Article, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()


def _articles(path: Path, source: str, log: Log, advance=None) -> Iterator[Article]:
    kind = file_kind(path.name)
    if kind is None:
        suffix = path.suffix.lower() or path.name
        log.skip(source, f"unsupported file type '{suffix}' (use {', '.join(SUPPORTED_SUFFIXES)})")
        return
    module, function = _READERS[kind]
    read = getattr(importlib.import_module(f".readers.{module}", __package__), function)
    found = 0
    for a in read(path, source, log, advance or (lambda n: None)):
        found += 1
        yield a
    if not found and module in _COLLECTIONS and not any(w.startswith(f"skipped {source}") for w in log.warnings):
        log.skip(source, "no articles in the collection")


def load_file(path: Path, source: str | None = None, log: Log | None = None) -> list[Article]:
    """Articles in one file; ``source`` is the citation key (default: the file name)."""
    log = log if log is not None else Log()
    return list(_articles(Path(path), source or Path(path).name, log))


def _expand(paths: Iterable[Path], log: Log) -> Iterator[tuple[Path, str]]:
    """(file, source key) pairs: a folder contributes its supported files, keyed relative to it.

    Inside a folder, anything that is not a regular file (a FIFO, a device, a
    socket) is skipped with a warning, without being opened.
    """
    def regular(f: Path, source: str) -> bool:
        try:
            what = not_regular(os.stat(f).st_mode)
        except OSError as e:
            log.skip(source, f"cannot be read ({e.strerror or e})")
            return False
        if what and what != "a folder":
            log.skip(source, f"{what}, not a regular file; only regular files are read")
        return what is None

    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if file_kind(f.name) and not any(part.startswith(".") for part in rel.parts) and regular(f, rel.as_posix()):
                    yield f, rel.as_posix()
        elif regular(p, p.name):
            yield p, p.name


def _sizes(files: list[tuple[Path, str]]) -> int:
    total = 0
    for f, _ in files:
        try:
            total += os.stat(f).st_size
        except OSError:
            pass
    return total


def load_corpus(paths: Iterable[Path | str], *, progress: bool = False) -> Corpus:
    """Read every article under ``paths`` (files or folders); ``progress`` shows a bar of the bytes read.

    Raises CorpusError only when a path does not exist at all; bad files are
    skipped and reported in the returned Corpus. Files are read as streams
    where the format allows, so a large file costs the memory of its articles,
    not of its bytes.
    """
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CorpusError(f"no such file or folder: {', '.join(missing)}")
    log = Log()
    files = list(_expand(paths, log))
    articles: dict[str, Article] = {}
    from tqdm import tqdm

    with tqdm(total=_sizes(files), desc="reading", unit="B", unit_scale=True, disable=not progress,
              leave=False) as bar:
        for path, source in files:
            for a in _articles(path, source, log, bar.update):
                if a.source in articles:
                    log.skip(a.source, "a second article with the same citation key (file name or url); "
                                       "kept the first")
                    continue
                articles[a.source] = a
    return Corpus(tuple(articles.values()), tuple(log.skipped), tuple(log.warnings))
