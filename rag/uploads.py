"""Uploads: check articles a user hands in, save them under ``<index>/uploads/`` and index them at once.

(For an index in PostgreSQL the folder is on this machine: ``rag.location.uploads_dir``.)

All or nothing: every file of an upload is checked before anything is written,
and if indexing fails the saved files are removed again, so a refused upload
leaves both the uploads folder and the live index exactly as they were.
"""

from __future__ import annotations

import re
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .corpus import Article, _Log, file_kind, load_file
from .errors import RagError, UploadRejected
from .location import uploads_dir
from .readers.base import UNDATED
from .indexing import index_corpus
from .retrieval import Index
from .sources import UPLOADS_DIR
from .store import IndexReport

__all__ = ["UploadReport", "add_uploads", "check_upload", "safe_filename", "UPLOADS_DIR"]

_MAX_NAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

Progress = Callable[[float, str], object]
# One upload at a time per process: two would race to write the same index generation.
_WRITING = threading.Lock()


@dataclass(frozen=True)
class UploadReport:
    """What one upload added: the names the files were saved under, and the new articles."""

    saved: tuple[str, ...]  # file names under <index>/uploads/, which are also the citation keys
    renamed: tuple[tuple[str, str], ...]  # (name given, name saved) wherever the two differ
    articles: tuple[Article, ...]
    index: IndexReport

    def summary(self) -> str:
        """One line for a person: what was added, and any renaming."""
        dated = sorted(a.date for a in self.articles if a.date)
        span = f", published {dated[0]}" + (f" to {dated[-1]}" if dated[-1] != dated[0] else "") if dated else ""
        line = f"Added {len(self.articles)} article{'s' * (len(self.articles) != 1)} from {', '.join(self.saved)}{span}."
        for given, saved in self.renamed:
            line += f" “{given}” was saved as {saved}."
        return line


def safe_filename(name: str) -> str:
    """A file name that is safe to create in the uploads folder: no folders, no hidden files, plain characters.

    >>> safe_filename("../../etc/Rust report (final).TXT")
    'Rust_report_final.txt'
    """
    base = re.split(r"[/\\]", str(name))[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._-") or "upload"
    suffix = _UNSAFE.sub("", suffix).lower()
    stem = stem[: _MAX_NAME - len(suffix) - 1]
    return f"{stem}.{suffix}" if suffix else stem


def _unused_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name`` with ``-2``, ``-3``... before its suffix, whichever is not taken yet."""
    if name.casefold() not in taken:
        return name
    stem, dot, suffix = name.rpartition(".")
    n = 2
    while f"{stem}-{n}{dot}{suffix}".casefold() in taken:
        n += 1
    return f"{stem}-{n}{dot}{suffix}"


def check_upload(name: str, data: bytes, *, max_bytes: int) -> list[Article]:
    """The articles in one uploaded file, or UploadRejected saying what is wrong with it.

    Stricter than indexing a folder: a file is refused rather than indexed in
    part, and every article needs a trustworthy publication date (the first
    line ``date YYYY-MM-DD Headline`` of a .txt file; a ``published_at`` or
    ``date`` field of each .json/.jsonl record or .csv row; a feed entry's own
    date; a web page's metadata, also for each page of a WARC archive).
    """
    shown = safe_filename(name) or "the file"
    if file_kind(shown) is None:
        suffix = Path(shown).suffix.lower()
        raise UploadRejected(
            f"{shown}: unsupported file type '{suffix or 'none'}'; upload .txt articles, .json/.jsonl/.csv "
            f"collections, .html pages, RSS/Atom feeds (.xml/.rss/.atom) or WARC/ARC archives"
        )
    if len(data) > max_bytes:
        raise UploadRejected(
            f"{shown} is {_size(len(data))}; the limit is {_size(max_bytes)} per file. Split it into smaller files"
        )
    log = _Log()
    with tempfile.TemporaryDirectory(prefix="dateline-upload-") as tmp:
        path = Path(tmp) / shown
        path.write_bytes(data)
        articles = load_file(path, shown, log)
    # load_file skips what it cannot read and warns about missing dates; for an upload both are refusals
    problems = [f"{where}: {why}" for where, why in log.skipped]
    problems += [w.replace(f"; {UNDATED}", "").replace(f" {UNDATED}", " undated")
                 for w in log.warnings if not w.startswith("skipped ")]
    if not problems and not articles:
        problems = ["it holds no article"]
    if problems:
        listed = "; ".join(p.removeprefix(f"{shown}: ") for p in problems[:3])
        more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
        raise UploadRejected(f"{shown} was not added: {listed}{more}. Nothing was changed.")
    return articles


def add_uploads(files: Sequence[Path | str | tuple[str, bytes]], *, index: Index,
                progress: Progress | None = None) -> UploadReport:
    """Check, save and index uploaded files; the articles are searchable through ``index`` on return.

    ``files`` are paths (the file's own name is the name asked for) or
    ``(name, content)`` pairs. Names are made safe and never replace another
    article's file: a clash gets a ``-2`` (``-3``...) suffix. Raises
    UploadRejected, with the index untouched, if any file is unusable.

    >>> idx = Index.open("vectorstore")
    >>> report = add_uploads([("council-vote.txt", b" date 2024-03-01 Council approves the river bridge\\n"
    ...                       b"The city council voted 7-2 on Friday to fund the new river bridge.")], index=idx)
    >>> report.saved
    ('council-vote.txt',)
    >>> idx.search("How did the council vote on the bridge?", k=1)[0].source
    'council-vote.txt'
    """
    step = progress or (lambda fraction, message: None)
    if not files:
        raise UploadRejected("no file was uploaded")
    with _WRITING:
        return _add(files, index, step)


def _add(files: Sequence[Path | str | tuple[str, bytes]], index: Index, step: Progress) -> UploadReport:
    index.refresh()
    root = index.store.root
    settings = index.settings.model_copy(update={"index": root})
    folder = uploads_dir(root)

    step(0.05, "checking the files")
    named = [_read(f) for f in files]
    checked = [(name, data, check_upload(name, data, max_bytes=settings.max_upload_bytes)) for name, data in named]
    known = {a.id: a.source for a in index.articles}
    for name, _, articles in checked:
        if all(a.id in known for a in articles):
            raise UploadRejected(f"{safe_filename(name)} was not added: it is already in the archive as "
                                 f"{known[articles[0].id]}. Nothing was changed.")

    taken = {a.source.split("#", 1)[0].casefold() for a in index.articles}
    taken |= {p.name.casefold() for p in folder.iterdir()} if folder.is_dir() else set()
    plan: list[tuple[str, str, bytes]] = []  # (name given, name saved, content)
    for name, data, _ in checked:
        saved = _unused_name(safe_filename(name), taken)
        taken.add(saved.casefold())
        plan.append((re.split(r"[/\\]", name)[-1], saved, data))

    step(0.15, "saving")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for _, saved, data in plan:
            path = folder / saved
            with open(path, "xb") as f:  # "x": never replace a file, even one that appeared meanwhile
                f.write(data)
            written.append(path)
        step(0.3, "indexing")
        # only the uploads folder is read: every other article of the index stays as it is
        report = index_corpus([folder], settings=settings, embedder=index.embedder)
    except (RagError, OSError) as e:
        for p in written:
            p.unlink(missing_ok=True)
        if isinstance(e, UploadRejected):
            raise
        raise UploadRejected(f"the upload could not be indexed, so nothing was added: {e}") from e
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    step(0.95, "loading the new index")
    index.refresh()
    saved_names = tuple(s for _, s, _ in plan)
    new = tuple(a for a in index.articles if a.source.split("#", 1)[0] in saved_names)
    renamed = tuple((given, saved) for given, saved, _ in plan if given != saved)
    step(1.0, "done")
    return UploadReport(saved_names, renamed, new, report)


def _size(n: int) -> str:
    return f"{n / 1e6:.3g} MB" if n >= 1e6 else f"{n / 1e3:.3g} kB" if n >= 1e3 else f"{n} bytes"


def _read(f: Path | str | tuple[str, bytes]) -> tuple[str, bytes]:
    if isinstance(f, tuple):
        name, data = f
        return str(name), bytes(data)
    p = Path(f)
    try:
        return p.name, p.read_bytes()
    except OSError as e:
        raise UploadRejected(f"{p.name} could not be read ({e.strerror or e})") from e
