"""Corpus: read dated articles from .txt files and JSON / JSON Lines collections.

Bad input never stops a run: each unreadable file or record is skipped with one
warning naming it and the reason, and the caller gets a summary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorpusError

__all__ = ["Article", "Corpus", "load_corpus", "load_file", "parse_date", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".txt", ".json", ".jsonl")
MAX_FILE_BYTES = 256 * 1024 * 1024

# " date 2021-12-02 Alec Baldwin Says ..." -- the seeds' first line.
_DATE_LINE = re.compile(r"^\s*date\s+(\S+)\s*(.*)$", re.IGNORECASE)
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}")
_BODY_KEYS = ("body", "text", "content")
_DATE_KEYS = ("published_at", "date", "published")


@dataclass(frozen=True)
class Article:
    """One dated article. ``text`` is what chunk offsets point into."""

    id: str
    source: str
    title: str
    date: dt.date | None
    text: str
    publisher: str | None = None
    url: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Corpus:
    """Articles read from some paths, with what was skipped and why."""

    articles: tuple[Article, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()


def article_id(title: str, date: dt.date | None, text: str) -> str:
    """A stable id from the content: same words and date, same id."""
    h = hashlib.sha256()
    for part in (title, date.isoformat() if date else "", text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def parse_date(value: object) -> dt.date | None:
    """A publication date from ``YYYY-MM-DD`` or an ISO-8601 timestamp; None if not a real date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    for parse in (dt.date.fromisoformat, lambda v: dt.datetime.fromisoformat(v.replace("Z", "+00:00")).date()):
        try:
            return parse(s)
        except ValueError:
            pass
    # A timestamp Python will not parse whole (nanoseconds, say): trust its date part.
    m = _TIMESTAMP.match(s)
    if m:
        try:
            return dt.date.fromisoformat(m.group(1))
        except ValueError:
            return None
    return None


@dataclass
class _Log:
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        self.skipped.append((where, why))
        self.warnings.append(f"skipped {where}: {why}")

    def warn(self, where: str, why: str) -> None:
        self.warnings.append(f"{where}: {why}")


def _read_text(path: Path, log: _Log) -> str | None:
    """The file's text, or None (with a warning) when it is not usable text."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            log.skip(path.name, f"larger than {MAX_FILE_BYTES // 2**20} MiB")
            return None
        raw = path.read_bytes()
    except OSError as e:
        log.skip(path.name, f"cannot be read ({e.strerror or e})")
        return None
    if not raw.strip():
        log.skip(path.name, "the file is empty")
        return None
    if b"\x00" in raw[:8192]:
        log.skip(path.name, "binary file, not text")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        log.skip(path.name, f"not UTF-8 text (undecodable byte at position {e.start}); save it as UTF-8")
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _txt_article(source: str, text: str, log: _Log) -> Article | None:
    first, _, rest = text.partition("\n")
    m = _DATE_LINE.match(first)
    date: dt.date | None = None
    if m:
        date = parse_date(m.group(1))
        if date is None:
            log.warn(source, f"'date {m.group(1)}' is not a real date (want YYYY-MM-DD); indexed with an unknown date")
        headline = m.group(2).strip()
        body = (headline + "\n" + rest) if rest else headline
    else:
        log.warn(source, "no ' date YYYY-MM-DD' first line; indexed with an unknown date")
        body = text
        headline = first.strip()
    body = body.strip()
    if not body:
        log.skip(source, "no text after the date line")
        return None
    title = headline or body.split("\n", 1)[0].strip()
    return Article(article_id(title, date, body), source, title[:300], date, body)


def _record_article(collection: str, pos: int, rec: object, log: _Log) -> Article | None:
    where = f"{collection} record {pos}"
    if not isinstance(rec, dict):
        log.skip(where, "not a JSON object")
        return None
    body = next((rec[k] for k in _BODY_KEYS if isinstance(rec.get(k), str) and rec[k].strip()), None)
    if body is None:
        log.skip(where, "no 'body' or 'text' field with text in it")
        return None
    title = rec.get("title") if isinstance(rec.get("title"), str) else ""
    raw_date = next((rec[k] for k in _DATE_KEYS if rec.get(k) not in (None, "")), None)
    date = parse_date(raw_date)
    if raw_date is not None and date is None:
        log.warn(where, f"date {raw_date!r} is not a real date; indexed with an unknown date")
    elif raw_date is None:
        log.warn(where, "no 'published_at' or 'date'; indexed with an unknown date")
    url = rec.get("url") if isinstance(rec.get("url"), str) and rec["url"].strip() else None
    publisher = rec.get("source") if isinstance(rec.get("source"), str) else rec.get("publisher")
    author = rec.get("author") if isinstance(rec.get("author"), str) else None
    text = body.replace("\r\n", "\n").strip()
    title = title.strip() or text.split("\n", 1)[0][:120]
    source = f"{collection}#{url.strip() if url else pos}"
    return Article(
        article_id(title, date, text), source, title, date, text,
        publisher=publisher if isinstance(publisher, str) else None, url=url, author=author,
    )


def _collection_records(path: Path, text: str, log: _Log) -> Iterator[tuple[int, object]]:
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                log.skip(f"{path.name} line {n}", f"malformed JSON ({e.msg})")
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        log.skip(path.name, f"malformed JSON at line {e.lineno}: {e.msg}")
        return
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        log.skip(path.name, "JSON is neither a list of articles nor an object holding one")
        return
    yield from enumerate(data, start=1)


def load_file(path: Path, source: str | None = None, log: _Log | None = None) -> list[Article]:
    """Articles in one file; ``source`` is the citation key (default: the file name)."""
    log = log if log is not None else _Log()
    source = source or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        log.skip(source, f"unsupported file type '{suffix or path.name}' (use .txt, .json or .jsonl)")
        return []
    text = _read_text(path, log)
    if text is None:
        return []
    if suffix == ".txt":
        a = _txt_article(source, text, log)
        return [a] if a else []
    out = []
    for pos, rec in _collection_records(path, text, log):
        a = _record_article(source, pos, rec, log)
        if a:
            out.append(a)
    if not out and not any(w.startswith(f"skipped {path.name}") for w in log.warnings):
        log.skip(source, "no articles in the collection")
    return out


def _expand(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(file, source key) pairs: a folder contributes its supported files, keyed relative to it."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES and not any(
                    part.startswith(".") for part in rel.parts
                ):
                    yield f, rel.as_posix()
        else:
            yield p, p.name


def load_corpus(paths: Iterable[Path | str]) -> Corpus:
    """Read every article under ``paths`` (files or folders).

    Raises CorpusError only when a path does not exist at all; bad files are
    skipped and reported in the returned Corpus.
    """
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CorpusError(f"no such file or folder: {', '.join(missing)}")
    log = _Log()
    articles: dict[str, Article] = {}
    for path, source in _expand(paths):
        for a in load_file(path, source, log):
            if a.source in articles:
                log.skip(a.source, "a second article with the same citation key (file name or url); kept the first")
                continue
            articles[a.source] = a
    return Corpus(tuple(articles.values()), tuple(log.skipped), tuple(log.warnings))
