"""Web archives: WARC and ARC files (warcio), read as a stream; every HTML page they captured is an article.

Records are read one at a time, so a crawl of thousands of pages takes the
memory of one page. Each page is read as a saved web page is (rag.readers.pages),
its URL taken from the record. The capture date (WARC-Date) is *not* the
publication date; it only bounds it, since nothing is published after it was
archived. Other records (images, scripts, requests, revisits, redirects, errors)
are not articles and are passed over.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .base import MAX_ARTICLE_BYTES, Advance, Article, Log, open_regular, parse_date
from .pages import page_article

__all__ = ["read_warc"]

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


def _payload(raw: bytes, content_type: str) -> bytes | str:
    """The page as text when its HTTP header names a charset Python knows; else the bytes, to be sniffed."""
    m = _CHARSET.search(content_type)
    if m:
        try:
            return raw.decode(codecs.lookup(m.group(1)).name)
        except (LookupError, UnicodeDecodeError):
            pass
    return raw


def _html_page(record) -> tuple[str, str] | None:
    """(url, content type) when the record is a captured HTML page, else None."""
    if record.rec_type == "response":
        http = record.http_headers
        if http is None or not str(http.get_statuscode() or "").startswith("2"):
            return None
        content_type = http.get_header("Content-Type") or ""
    elif record.rec_type == "resource":
        content_type = record.rec_headers.get_header("Content-Type") or ""
    else:
        return None
    url = record.rec_headers.get_header("WARC-Target-URI")
    if "html" not in content_type.lower() or not url:
        return None
    return url.strip("<> "), content_type


def read_warc(path: Path, source: str, log: Log, advance: Advance) -> Iterator[Article]:
    from warcio.archiveiterator import ArchiveIterator

    f = open_regular(path, source, log)
    if f is None:
        return
    read, records, pages = 0, 0, 0
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            log.skip(source, "the file is empty")
            return
        archive = ArchiveIterator(f, arc2warc=True)
        try:
            for record in archive:
                records += 1
                now = f.tell()
                advance(now - read)
                read = now
                page = _html_page(record)
                if page is None:
                    continue
                url, content_type = page
                where = f"{source} record {records} ({url})"
                raw = record.content_stream().read(MAX_ARTICLE_BYTES + 1)
                if len(raw) > MAX_ARTICLE_BYTES:
                    log.skip(where, f"a page larger than {MAX_ARTICLE_BYTES // 2**20} MiB")
                    continue
                captured = parse_date(record.rec_headers.get_header("WARC-Date") or "")
                pages += 1
                a = page_article(_payload(raw, content_type), source, where, log, url=url,
                                 max_date=captured + dt.timedelta(days=1) if captured else None)
                if a:
                    yield a
        except Exception as e:  # warcio raises several kinds on a damaged or truncated stream
            why = f"{type(e).__name__}: {e}".strip().rstrip(":")[:200]
            if records == 0:
                log.skip(source, f"not a readable WARC or ARC file ({why})")
            else:
                log.warn(source, f"damaged or truncated after record {records} ({why}); "
                                 f"the {pages} pages before it were read")
            return
        advance(max(0, f.tell() - read))
        end = archive.get_record_offset() + archive.get_record_length() if records else 0
    if records and size - end > 4:  # bytes left that form no record: warcio stops there without a word
        log.warn(source, f"truncated or damaged after record {records} (byte {end} of {size}); "
                         f"the {pages} pages before it were read")
    if records == 0:
        log.skip(source, "not a WARC or ARC file (no records in it)")
    elif pages == 0:
        log.skip(source, f"no HTML pages among its {records} records (is it a WARC or ARC file of web pages?)")
