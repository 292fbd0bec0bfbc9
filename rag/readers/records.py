"""Collections of records: a JSON document, JSON Lines (read line by line) and CSV with a header (row by row).

Records name their fields the same way in all three: ``title``, ``body`` (or
``text``/``content``), ``published_at`` (or ``date``/``published``), ``url``,
``source`` (or ``publisher``) and ``author``. The names other tools export are read
too, in any case and with or without ``_`` (NewsAPI's ``publishedAt`` and
``source: {"name": ...}``, news-please's ``maintext`` and ``date_publish``, RSS
exports' ``pubDate`` and ``link``, spreadsheets' ``Headline`` / ``Date`` /
``Article``): an archive exported by another tool keeps its dates.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from .base import (
    AUTHOR_KEYS, BODY_KEYS, DATE_KEYS, MAX_FILE_BYTES, MAX_RECORD_BYTES, PUBLISHER_KEYS, TITLE_KEYS, UNDATED, URL_KEYS,
    Advance, Article, Log, article_id, bounded_lines, field_key, open_regular, parse_date, record_field, record_fields,
    record_text,
)
from .text import read_utf8

__all__ = ["read_json", "read_jsonl", "read_csv", "record_article"]


def record_article(collection: str, pos: int, rec: object, log: Log, *, where: str | None = None,
                   date_source: str = "json-field", warn_undated: bool = True) -> Article | None:
    """The article in one record, cited as ``collection#url`` (``collection#pos`` without a url)."""
    where = where or f"{collection} record {pos}"
    if not isinstance(rec, dict):
        log.skip(where, "not a JSON object")
        return None
    fields = record_fields(rec)
    body = record_text(fields, BODY_KEYS)
    if body is None:
        log.skip(where, "no 'body' or 'text' field with text in it")
        return None
    title = record_text(fields, TITLE_KEYS) or ""
    raw_date = record_field(fields, DATE_KEYS)
    date = parse_date(raw_date)
    if raw_date is not None and date is None:
        log.warn(where, f"date {str(raw_date)[:60]!r} is not a real date with its day; {UNDATED}")
    elif raw_date is None and warn_undated:
        log.warn(where, f"no 'published_at' or 'date'; {UNDATED}")
    url = record_text(fields, URL_KEYS)
    publisher, author = record_text(fields, PUBLISHER_KEYS), record_text(fields, AUTHOR_KEYS)
    text = body.replace("\r\n", "\n").strip()
    title = title.strip() or text.split("\n", 1)[0][:120]
    source = f"{collection}#{url.strip() if url else pos}"
    return Article(
        article_id(title, date, text), source, title, date, text,
        publisher=publisher, url=url.strip() if url else None, author=author,
        date_source=date_source if date else "none", date_confidence="high" if date else "none",
    )


_UNREADABLE = object()


def _parse(text: str, where: str, log: Log, *, whole: bool) -> object:
    """The JSON value in ``text``, or _UNREADABLE with a warning (malformed, or nested past Python's limit)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        log.skip(where, f"malformed JSON at line {e.lineno}: {e.msg}" if whole else f"malformed JSON ({e.msg})")
    except RecursionError:
        log.skip(where, "JSON nested too deeply to read (thousands of levels of [ or {)")
    return _UNREADABLE


def read_json(path: Path, source: str, log: Log, advance: Advance) -> Iterator[Article]:
    text = read_utf8(path, source, log, advance, limit=MAX_FILE_BYTES,
                     hint="save it as JSON Lines (.jsonl, one article per line), which is read line by line")
    if text is None:
        return
    data = _parse(text, source, log, whole=True)
    del text
    if data is _UNREADABLE:
        return
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        log.skip(source, "JSON is neither a list of articles nor an object holding one")
        return
    for pos, rec in enumerate(data, start=1):
        a = record_article(source, pos, rec, log)
        if a:
            yield a


def read_jsonl(path: Path, source: str, log: Log, advance: Advance) -> Iterator[Article]:
    f = open_regular(path, source, log)
    if f is None:
        return
    with f:
        if b"\x00" in f.peek(8192)[:8192]:
            log.skip(source, "binary file, not text")
            return
        seen_any = False
        for n, line in bounded_lines(f, advance):
            where = f"{source} line {n}"
            if line is None:
                seen_any = True
                log.skip(where, f"a line longer than {MAX_RECORD_BYTES // 2**20} MiB; one article per line, please")
                continue
            if n == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line.strip():
                continue
            seen_any = True
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                log.skip(where, f"not UTF-8 text (undecodable byte at position {e.start}); save it as UTF-8")
                continue
            rec = _parse(text, where, log, whole=False)
            if rec is _UNREADABLE:
                continue
            a = record_article(source, n, rec, log)
            if a:
                yield a
        if not seen_any:
            log.skip(source, "the file is empty")


def read_csv(path: Path, source: str, log: Log, advance: Advance) -> Iterator[Article]:
    """Rows of a CSV file whose header names the columns; a row's number is its line in a spreadsheet."""
    f = open_regular(path, source, log)
    if f is None:
        return
    csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))
    stop: list[str] = []

    def lines() -> Iterator[str]:
        for n, line in bounded_lines(f, advance):
            if line is None:
                stop.append(f"line {n} is longer than {MAX_RECORD_BYTES // 2**20} MiB")
                return
            try:
                yield line.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                stop.append(f"line {n} is not UTF-8 text; save the file as UTF-8")
                return

    with f:
        if b"\x00" in f.peek(8192)[:8192]:
            log.skip(source, "binary file, not text")
            return
        rows = lines()
        header_line = next(rows, None)
        if header_line is None or not header_line.strip():
            log.skip(source, stop[0] if stop else "the file is empty")
            return
        try:
            dialect = csv.Sniffer().sniff(header_line, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        header = [h.strip() for h in next(csv.reader([header_line], dialect))]
        keys = {field_key(h) for h in header}
        if not keys & set(BODY_KEYS):
            log.skip(source, f"the header names no body, text or content column (it has: {', '.join(header)})")
            return
        dated = bool(keys & set(DATE_KEYS))
        if not dated:
            log.warn(source, f"the header names no published_at or date column; its articles are {UNDATED}")
        reader = csv.reader(rows, dialect)
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                stop.append(f"line {reader.line_num + 1} is not valid CSV ({e})")
                break
            row = reader.line_num + 1  # the header is row 1
            if not any(v.strip() for v in values):
                continue
            rec = {k: v for k, v in zip(header, values) if k}
            a = record_article(source, row, rec, log, where=f"{source} row {row}", date_source="csv-field",
                              warn_undated=dated)
            if a:
                yield a
        if stop:
            log.warn(source, f"stopped reading: {stop[0]}; the rows before it were read")
