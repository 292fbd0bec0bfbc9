"""Saved web pages: the article's main text and metadata (trafilatura) and its publication date (htmldate).

The date is the one field other tools most often get wrong (the file's time,
the crawl date, the first date in the text), so it is taken only from the page
itself and refused when the page does not settle it: a missing date is better
than a wrong one. The rules, in order:

1. The page's metadata (meta tags, JSON-LD, ``<time>`` elements; the URL only
   when nothing else has a date), earliest of the dates it gives for the
   article: ``page-metadata``, confidence ``high``, or ``medium`` when the URL
   names another day. A metadata time written in UTC within ``NEAR_MIDNIGHT``
   hours of midnight names the publisher's own day only if the publisher sits
   near Greenwich; when the URL, which the publisher's system wrote in its own
   zone, names the neighbouring day on the side the time points to, the URL's
   day is taken (``url``, confidence ``medium``).
2. A page whose last update is more than ``LIVING_PAGE_DAYS`` (four years) after
   that date is kept up to date rather than reported once (a wiki page, a
   profile): undated. An article corrected a year or two later keeps its date.
3. Without metadata, a date in the page's text (htmldate's extensive search)
   is taken only when the earliest and the latest candidates are the same day
   and it is not a bare year (which htmldate reports as 1 January): ``byline``,
   confidence ``medium``.

The choices were made on half of the labelled news-html pages and checked on the
other half; the four years were chosen on the dev half of htmldate's other 800
labelled pages, a year having refused 8 rightly dated articles there to avoid 2
wrong dates (docs/benchmarks.md). Most dates still wrong there are one day off: a
timestamp written in UTC near midnight names another day than the publisher's
own, and the page rarely says which zone it means.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .base import MAX_ARTICLE_BYTES, UNDATED, Advance, Article, Log, article_id, read_whole, url_date

__all__ = ["read_html", "page_article", "page_date", "PageDate"]

#: A page updated this long after its publication date is a living page, not a dated report.
LIVING_PAGE_DAYS = 4 * 365
#: A UTC time this close to midnight is another day for publishers far from Greenwich.
NEAR_MIDNIGHT = 6
#: Less main text than this is a menu, a login wall or an empty shell, not an article.
MIN_TEXT_CHARS = 80

for _name in ("trafilatura", "htmldate", "courlan"):
    # they log at WARNING about pages they cannot use; the reader turns that into its own warning
    logging.getLogger(_name).addHandler(logging.NullHandler())


@dataclass(frozen=True)
class PageDate:
    """A page's publication date, where it came from, how sure it is, and its last update."""

    date: dt.date | None
    source: str
    confidence: str
    updated: dt.date | None = None
    why_undated: str = ""


def _day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def _other_side_of_midnight(stamp: str | None, day: dt.date, in_url: dt.date) -> bool:
    """A UTC time near midnight, and the URL names the day it is in the zones that time points to.

    "2020-02-18T02:18:11+0000" is the evening of the 17th in the Americas, and the
    URL ``/2020/02/17/`` says that is where the publisher sits.
    """
    try:
        when = dt.datetime.strptime(stamp or "", "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return False  # a date without a time, or a time without its zone: nothing to say
    if when.utcoffset() != dt.timedelta(0):
        return False  # written in the publisher's own zone: its day is the publisher's day
    if when.hour < NEAR_MIDNIGHT:
        return in_url == day - dt.timedelta(days=1)
    if when.hour >= 24 - NEAR_MIDNIGHT:
        return in_url == day + dt.timedelta(days=1)
    return False


def page_date(html: str, url: str | None, *, max_date: dt.date | None = None) -> PageDate:
    """The publication date of the page ``html`` fetched from ``url``, by the rules above."""
    from htmldate import find_date

    limit = {"max_date": max_date.isoformat()} if max_date else {}
    page = html.encode("utf-8")  # bytes: htmldate would download a str that looks like a URL

    def find(extensive: bool, original: bool, fmt: str = "%Y-%m-%d") -> str | None:
        return find_date(page, extensive_search=extensive, original_date=original, url=url,
                         deferred_url_extractor=True, outputformat=fmt, **limit)

    stamp = find(False, True, "%Y-%m-%dT%H:%M:%S%z")  # with its time and zone, for the midnight rule
    published, updated = _day(stamp), _day(find(False, False))
    if published:
        if updated and (updated - published).days > LIVING_PAGE_DAYS:
            return PageDate(None, "none", "none", updated,
                            f"first published {published} but updated {updated}: a page kept up to date for years "
                            f"has no single publication date")
        in_url = url_date(url)
        if in_url and (max_date is None or in_url <= max_date) and _other_side_of_midnight(stamp, published, in_url):
            return PageDate(in_url, "url", "medium", updated if updated and updated > in_url else None)
        confidence = "medium" if in_url and in_url != published else "high"
        return PageDate(published, "page-metadata", confidence, updated if updated and updated > published else None)
    first, last = _day(find(True, True)), _day(find(True, False))
    if first is None:
        return PageDate(None, "none", "none", None, "no publication date in the page's metadata or text")
    if first != last:
        return PageDate(None, "none", "none", None,
                        f"no metadata gives a date and the text names several ({first} … {last})")
    if (first.month, first.day) == (1, 1):
        return PageDate(None, "none", "none", None, f"only a year ({first.year}) is given")
    return PageDate(first, "byline", "medium")


def page_article(raw: bytes | str, source: str, where: str, log: Log, *, url: str | None = None,
                 max_date: dt.date | None = None) -> Article | None:
    """The article in one web page (a file, or a WARC record's payload); None with a warning if it holds none.

    ``url`` is where the page was fetched (a WARC record's); without it the
    page's canonical link is used. ``max_date`` bounds the dates believed (a
    page cannot be published after it was archived).
    """
    import trafilatura
    from trafilatura.utils import decode_file

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dateutil warns about time zone names it does not know
            html = decode_file(raw) if isinstance(raw, bytes) else raw
            # trafilatura also dates the page (through htmldate, on its own copy of the tree): the date is
            # taken from htmldate directly, on the page as it was saved
            doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                              date_extraction_params={"extensive_search": False})
            if doc is None or len((doc.text or "").strip()) < MIN_TEXT_CHARS:
                log.skip(where, "no article text found in the page (an index, login or empty page?)")
                return None
            url = url or doc.url or None
            when = page_date(html, url, max_date=max_date)
    except Exception as e:  # a parser's failure on one page must not stop the run
        log.skip(where, f"could not be read as a web page ({type(e).__name__}: {e})"[:300])
        return None
    if when.date is None:
        log.warn(where, f"{when.why_undated}; {UNDATED}")
    text = doc.text.strip()
    title = " ".join((doc.title or "").split()) or text.split("\n", 1)[0][:120]
    return Article(
        article_id(title, when.date, text), f"{source}#{url}" if url else source, title[:300], when.date, text,
        publisher=doc.sitename or None, url=url, author=doc.author or None,
        date_source=when.source, date_confidence=when.confidence, updated=when.updated,
    )


def read_html(path: Path, source: str, log: Log, advance: Advance) -> Iterator[Article]:
    raw = read_whole(path, source, log, limit=MAX_ARTICLE_BYTES, hint="a saved news page is rarely over 2 MiB")
    if raw is None:
        return
    advance(len(raw))
    a = page_article(raw, source, source, log)
    if a:
        yield a
