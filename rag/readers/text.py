"""Plain-text articles: a ``.txt`` file whose first line is `` date YYYY-MM-DD Headline``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from .base import MAX_ARTICLE_BYTES, UNDATED, Advance, Article, Log, article_id, parse_date, read_whole

__all__ = ["read_txt", "read_utf8", "decode_utf8"]

# " date 2021-12-02 Alec Baldwin Says ..." -- the seeds' first line.
_DATE_LINE = re.compile(r"^\s*date\s+(\S+)\s*(.*)$", re.IGNORECASE)


def decode_utf8(raw: bytes, source: str, log: Log) -> str | None:
    """UTF-8 text with newlines made plain, or None (with a warning) for binary or non-UTF-8 bytes."""
    if b"\x00" in raw[:8192]:
        log.skip(source, "binary file, not text")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        log.skip(source, f"not UTF-8 text (undecodable byte at position {e.start}); save it as UTF-8")
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_utf8(path: Path, source: str, log: Log, advance: Advance, *, limit: int, hint: str) -> str | None:
    """A UTF-8 text file read whole, or None (with a warning) when it is too large, empty, binary or not UTF-8."""
    raw = read_whole(path, source, log, limit=limit, hint=hint)
    if raw is None:
        return None
    advance(len(raw))
    return decode_utf8(raw, source, log)


def read_txt(path: Path, source: str, log: Log, advance: Advance) -> Iterator[Article]:
    text = read_utf8(path, source, log, advance, limit=MAX_ARTICLE_BYTES,
                     hint="one article is far smaller: split it, or save a collection as .jsonl")
    if text is None:
        return
    first, _, rest = text.partition("\n")
    m = _DATE_LINE.match(first)
    date = None
    if m:
        date = parse_date(m.group(1))
        if date is None:
            log.warn(source, f"'date {m.group(1)}' is not a real date (want YYYY-MM-DD); {UNDATED}")
        headline = m.group(2).strip()
        body = (headline + "\n" + rest) if rest else headline
    else:
        log.warn(source, f"no ' date YYYY-MM-DD' first line; {UNDATED}")
        body = text
        headline = first.strip()
    body = body.strip()
    if not body:
        log.skip(source, "no text after the date line")
        return
    title = headline or body.split("\n", 1)[0].strip()
    yield Article(article_id(title, date, body), source, title[:300], date, body,
                  date_source="date-line" if date else "none", date_confidence="high" if date else "none")
