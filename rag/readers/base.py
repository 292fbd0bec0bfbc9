"""What every reader shares: the Article value, content ids, dates, the warning log and bounded file reading.

Reading is bounded: only regular files are opened (a FIFO or a device is
skipped without being opened, so it can never hang a run), a file read whole
may not pass MAX_FILE_BYTES, and formats read record by record never hold more
than MAX_RECORD_BYTES of one record, however large the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "Article", "Log", "DATE_SOURCES", "CONFIDENCES", "UNDATED", "MAX_FILE_BYTES", "MAX_RECORD_BYTES", "MAX_ARTICLE_BYTES",
    "article_id", "parse_date", "url_date", "open_regular", "read_whole", "bounded_lines", "Advance",
    "field_key", "record_fields", "record_field", "record_text", "BODY_KEYS", "DATE_KEYS", "TITLE_KEYS", "URL_KEYS",
    "PUBLISHER_KEYS", "AUTHOR_KEYS",
]

#: Largest file read whole (a .txt article, a JSON document, a web page, a feed). Larger ones are refused.
MAX_FILE_BYTES = 32 * 2**20
#: Largest single record of a file read record by record (a JSON Lines line, a CSV line, a WARC record).
MAX_RECORD_BYTES = 16 * 2**20
#: Largest file (or WARC record) holding one article, a .txt or a web page: parsing a page takes about 50
#: times its size in memory, and no article runs to millions of words.
MAX_ARTICLE_BYTES = 8 * 2**20

#: Where an article's publication date came from; ``none`` means it is undated.
DATE_SOURCES = {
    "date-line": "the ' date YYYY-MM-DD' first line of a .txt file",
    "text-header": "a 'Date:' line in the header (or front matter) of a .txt file",
    "json-field": "a published_at / date field of a JSON record",
    "csv-field": "a published_at / date column of a CSV row",
    "feed-entry": "the entry's own date in an RSS/Atom feed",
    "page-metadata": "the page's metadata (meta tags, JSON-LD, time elements, its URL)",
    "byline": "a date printed in the page's text (no metadata gave one)",
    "url": "a date written in the article's URL",
    "none": "no trustworthy date: the article is undated",
}
#: How sure the date is: ``high`` (stated by the publisher or the collection), ``medium`` (inferred, or
#: sources disagree by a little), ``none`` (undated).
CONFIDENCES = ("high", "medium", "none")
#: The end of every warning about an article that is indexed without a date (uploads refuse those).
UNDATED = "indexed with an unknown date"

# "/2020/07/09/", "/2020-07-09", "_20200709" in a URL's path
_URL_DATE = re.compile(r"(?<!\d)(20\d\d|19\d\d)[/_-]?(0[1-9]|1[0-2])[/_-]?(0[1-9]|[12]\d|3[01])(?!\d)")
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}")

Advance = Callable[[int], object]  # told how many more bytes of input have been read


@dataclass(frozen=True)
class Article:
    """One article. ``text`` is what chunk offsets point into.

    ``date_source`` (one of DATE_SOURCES) and ``date_confidence`` (one of
    CONFIDENCES) say where ``date`` came from and how sure it is; both are empty
    for articles of an index written before they were recorded. ``updated`` is a
    page's last-modified date, kept apart from its publication date. ``excerpt``
    is True when ``text`` is only a feed's summary of the article.
    """

    id: str
    source: str
    title: str
    date: dt.date | None
    text: str
    publisher: str | None = None
    url: str | None = None
    author: str | None = None
    date_source: str = ""
    date_confidence: str = ""
    updated: dt.date | None = None
    excerpt: bool = False


def article_id(title: str, date: dt.date | None, text: str) -> str:
    """A stable id from the content: same words and date, same id."""
    h = hashlib.sha256()
    for part in (title, date.isoformat() if date else "", text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


# Field names of records (and of a text file's header lines), each list in order of preference, written as
# field_key() writes them (lower case, no "_", "-" or spaces): Dateline's own names first, then other tools'
BODY_KEYS = ("body", "text", "content", "maintext", "fulltext", "articletext", "article", "articlebody", "story")
DATE_KEYS = ("publishedat", "date", "published", "datepublished", "datepublish", "publishdate", "pubdate",
             "publicationdate", "publisheddate", "dateline", "datetime")
TITLE_KEYS = ("title", "headline", "heading")
URL_KEYS = ("url", "link", "permalink", "canonicalurl")
PUBLISHER_KEYS = ("source", "publisher", "publication", "sitename", "sourcename", "sourcedomain", "outlet")
AUTHOR_KEYS = ("author", "authors", "byline", "creator")


def field_key(name: str) -> str:
    """A field's name as matched: "publishedAt", "Published_At" and "published-at" are one name."""
    return "".join(ch for ch in name.lower() if ch not in "_- ")


def record_fields(rec: dict) -> dict[str, object]:
    """A record's fields under the names ``field_key`` gives them, made once per record."""
    return {field_key(k): v for k, v in rec.items() if isinstance(k, str)}


def record_field(fields: dict[str, object], keys: tuple[str, ...]) -> object:
    """The first of ``keys`` with a value in ``fields`` (from ``record_fields``)."""
    return next((fields[k] for k in keys if fields.get(k) not in (None, "", [], {})), None)


def record_text(fields: dict[str, object], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` holding text: a name inside an object (``{"name": "BBC"}``), lists joined."""
    for k in keys:
        v = fields.get(k)
        if isinstance(v, dict):
            v = v.get("name") or v.get("title")
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            v = ", ".join(x.strip() for x in v if x.strip())
        if isinstance(v, str) and v.strip():
            return v
    return None


def parse_date(value: object) -> dt.date | None:
    """A publication date as collections write it; None if it is not a whole, real date.

    ISO 8601 (``2021-12-02``, ``2021-12-02T10:00:00Z``) first; then what exports of
    other tools hold: RSS's ``Thu, 02 Dec 2021 10:00:00 GMT``, ``December 2, 2021``,
    ``2 Dec 2021``, figures (``2021/12/02``; ``12/2/2021`` month first as American
    English writes it unless the first number cannot be a month; ``02.12.2021`` day
    first), and Unix time in seconds or milliseconds. A value missing its day
    ("December 2021", "2021") is not a publication date: None.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(float(value))
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
    if re.fullmatch(r"\d{9,13}(?:\.\d+)?", s):
        return _epoch(float(s))
    return _written(s)


def _epoch(seconds: float) -> dt.date | None:
    """Unix time (seconds, or milliseconds when larger than any date in seconds) within 1990–2100."""
    if seconds > 1e11:
        seconds /= 1000
    if not 631_152_000 <= seconds < 4_102_444_800:  # 1990-01-01 .. 2100-01-01
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).date()


def _written(s: str) -> dt.date | None:
    """A date written out or in figures, read by dateutil; None unless the text gives year, month and day."""
    from email.utils import parsedate_to_datetime

    from dateutil import parser

    if len(s) > 64 or not re.search(r"\d", s):
        return None
    try:
        return parsedate_to_datetime(s).date()  # RSS and e-mail: "Thu, 02 Dec 2021 10:00:00 GMT"
    except (TypeError, ValueError, IndexError):
        pass
    first = re.match(r"\s*(\d{1,2})([./-])(\d{1,2})\2\d{2,4}\b", s)
    dayfirst = bool(first) and (first.group(2) == "." or int(first.group(1)) > 12)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a time zone name dateutil does not know: the day is still read
            # parsed against two defaults: a field the text lacks would come from the default, and differ
            a, b = (parser.parse(s, default=dt.datetime(y, m, d), dayfirst=dayfirst)
                    for y, m, d in ((2000, 1, 1), (2001, 2, 2)))
    except Exception:  # a third-party parser on any text a collection holds: never let it stop a run
        return None
    return a.date() if a.date() == b.date() and 1900 <= a.year <= 2100 else None


def url_date(url: str | None) -> dt.date | None:
    """The full date written in a URL's path (``/2020/07/09/``), if there is exactly one."""
    if not url:
        return None
    path = re.sub(r"^[a-z]+://[^/]*", "", url.split("?", 1)[0].split("#", 1)[0], flags=re.I)
    found = set()
    for m in _URL_DATE.finditer(path):
        try:
            found.add(dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
        except ValueError:
            pass
    return found.pop() if len(found) == 1 else None


@dataclass
class Log:
    """What a run skipped and warned about, each entry naming the file (and record)."""

    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        self.skipped.append((where, why))
        self.warnings.append(f"skipped {where}: {why}")

    def warn(self, where: str, why: str) -> None:
        self.warnings.append(f"{where}: {why}")


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def not_regular(mode: int) -> str | None:
    """What a file of this mode is, when it is not a regular file (None when it is)."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: Path, source: str, log: Log) -> BinaryIO | None:
    """``path`` opened for reading if it is a regular file; else None, with a warning.

    The type is checked with stat before opening (opening a FIFO would block)
    and again on the open descriptor, so a file swapped meanwhile is caught.
    """
    try:
        what = not_regular(os.stat(path).st_mode)
        if what:
            log.skip(source, f"{what}, not a regular file; only regular files are read")
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        log.skip(source, f"cannot be read ({e.strerror or e})")
        return None
    what = not_regular(os.fstat(fd).st_mode)
    if what:
        os.close(fd)
        log.skip(source, f"{what}, not a regular file; only regular files are read")
        return None
    return os.fdopen(fd, "rb")


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def read_whole(path: Path, source: str, log: Log, *, limit: int = MAX_FILE_BYTES, hint: str = "") -> bytes | None:
    """The bytes of a file read whole, or None with a warning: not regular, unreadable, empty, or too large.

    The limit is checked on what is read, not only on the size the file system
    reports, so a file that grows while it is read cannot pass it.
    """
    f = open_regular(path, source, log)
    if f is None:
        return None
    with f:
        try:
            raw = f.read(limit + 1)
        except OSError as e:
            log.skip(source, f"cannot be read ({e.strerror or e})")
            return None
    if len(raw) > limit:
        size = max(len(raw), _size_of(path))
        del raw
        log.skip(source, f"the file is {_mb(size)}, over the {_mb(limit)} limit for a file of this kind"
                 + (f"; {hint}" if hint else "; split it into smaller files"))
        return None
    if not raw.strip():
        log.skip(source, "the file is empty")
        return None
    return raw


def _size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def bounded_lines(f: BinaryIO, advance: Advance | None = None) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each line of ``f``; the line is None when longer than MAX_RECORD_BYTES.

    An over-long line is read past in blocks and never held whole.
    """
    n = 0
    while True:
        line = f.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        n += 1
        if advance:
            advance(len(line))
        if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
            while True:  # skip to the end of this line
                rest = f.readline(1 << 20)
                if advance:
                    advance(len(rest))
                if not rest or rest.endswith(b"\n"):
                    break
            yield n, None
            continue
        yield n, line
