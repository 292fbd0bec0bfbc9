"""Plain-text articles: a ``.txt`` file whose first line is `` date YYYY-MM-DD Headline``.

Text exported by other tools often opens with a header instead, which is read too:
``Key: value`` lines ("Title: ...", "Date: December 2, 2021", "Source: ...",
"URL: ...", "Author: ...") up to the first blank line, or a YAML-style front matter
block between ``---`` lines. The names are those of JSON records (rag.readers.base).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from .base import (
    AUTHOR_KEYS, DATE_KEYS, MAX_ARTICLE_BYTES, PUBLISHER_KEYS, TITLE_KEYS, UNDATED, URL_KEYS, Advance, Article, Log,
    article_id, field_key, parse_date, read_whole, record_field, record_text,
)

__all__ = ["read_txt", "read_utf8", "decode_utf8"]

# " date 2021-12-02 Alec Baldwin Says ..." -- the seeds' first line.
_DATE_LINE = re.compile(r"^\s*date\s+(\S+)\s*(.*)$", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^\s*([A-Za-z][\w -]{0,30}?)\s*:\s*(.*?)\s*$")
_KNOWN = frozenset(DATE_KEYS + TITLE_KEYS + URL_KEYS + PUBLISHER_KEYS + AUTHOR_KEYS)
_MAX_HEADER = 12  # lines


def _header(text: str) -> tuple[dict[str, str], str] | None:
    """A header's fields (named as ``field_key`` names them) and the text after it, or None when there is none.

    A header is front matter between ``---`` lines, or ``Key: value`` lines up to a
    blank line; every key must be a known field name and one must name the date
    or the title, so a body that opens with "Washington: The Senate ..." is not a header.
    """
    lines = text.split("\n")
    fenced = lines[0].strip() == "---"
    fields: dict[str, str] = {}
    for n, line in enumerate(lines[1:] if fenced else lines, start=1 if fenced else 0):
        if n > _MAX_HEADER:
            return None
        if (fenced and line.strip() == "---") or (not fenced and not line.strip()):
            if not any(k in DATE_KEYS or k in TITLE_KEYS for k in fields):
                return None
            return fields, "\n".join(lines[n + 1 :])
        m = _HEADER_LINE.match(line)
        if m is None or (key := field_key(m.group(1))) not in _KNOWN:
            return None
        fields[key] = m.group(2).strip().strip('"\'')
    return None


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
    if m is None and (head := _header(text)) is not None:
        yield from _with_header(*head, source, log)
        return
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


def _with_header(fields: dict[str, str], body: str, source: str, log: Log) -> Iterator[Article]:
    body = body.strip()
    if not body:
        log.skip(source, "no text after the header")
        return
    raw = record_field(fields, DATE_KEYS)
    date = parse_date(raw)
    if date is None:
        log.warn(source, f"date {raw!r} in the header is not a real date with its day; {UNDATED}" if raw
                 else f"no Date: line in the header; {UNDATED}")
    title = (record_text(fields, TITLE_KEYS) or body.split("\n", 1)[0]).strip()
    yield Article(article_id(title, date, body), source, title[:300], date, body,
                  publisher=record_text(fields, PUBLISHER_KEYS), url=record_text(fields, URL_KEYS),
                  author=record_text(fields, AUTHOR_KEYS),
                  date_source="text-header" if date else "none", date_confidence="high" if date else "none")
