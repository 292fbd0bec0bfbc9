"""RSS and Atom feeds (feedparser): one article per entry, dated by the entry itself.

An entry's date is read as the publisher wrote it, in the publisher's own time
zone (feedparser's parsed dates are shifted to UTC, which can move an evening
story to the next day). ``published`` is preferred; an entry that carries only
``updated`` gets that date with medium confidence; one with neither is dated by
its URL if the URL names a day, else left undated. The text is the entry's full
content when the feed carries it, else its summary, marked ``excerpt``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import warnings
from collections.abc import Iterator
from pathlib import Path

from .base import UNDATED, Advance, Article, Log, article_id, parse_date, read_whole, url_date

__all__ = ["read_feed", "fragment_text"]

_BLOCKS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "tr",
           "table", "section", "article", "figure", "figcaption", "hr", "dd", "dt"}


def fragment_text(fragment: str, kind: str = "text/html") -> str:
    """Readable text of an HTML fragment (a feed's content or summary): one paragraph per line."""
    if "html" not in kind:
        lines = fragment.replace("\r\n", "\n").split("\n")
    else:
        import lxml.html

        try:
            root = lxml.html.fromstring(f"<div>{fragment}</div>")
        except Exception:  # lxml refuses some fragments (e.g. only a comment): fall back to the raw text
            return " ".join(fragment.split())
        for bad in root.xpath(".//script|.//style"):
            bad.drop_tree()
        for el in root.iter():
            if isinstance(el.tag, str) and el.tag.lower() in _BLOCKS:
                el.tail = "\n" + (el.tail or "")
        lines = root.text_content().split("\n")
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def _written_day(raw: str) -> dt.date | None:
    """The day in a feed date string (RFC 822 or ISO 8601), in the time zone it was written in."""
    try:
        return email.utils.parsedate_to_datetime(raw).date()
    except (TypeError, ValueError, IndexError):
        return parse_date(raw)


def _entry_date(entry: dict) -> tuple[dt.date | None, str, str]:
    """(date, date_source, confidence) of one entry."""
    for key, confidence in (("published", "high"), ("updated", "medium")):
        raw = entry.get(key)
        day = _written_day(raw) if isinstance(raw, str) and raw.strip() else None
        parsed = entry.get(f"{key}_parsed")
        if day is None and parsed:
            day = dt.date(*parsed[:3])
        if day:
            return day, "feed-entry", confidence
    day = url_date(entry.get("link"))
    return (day, "url", "medium") if day else (None, "none", "none")


def _entry_text(entry: dict) -> tuple[str, bool]:
    """(text, excerpt): the longest full content if there is any, else the summary."""
    contents = [fragment_text(c.get("value") or "", c.get("type") or "text/html") for c in entry.get("content") or ()]
    contents = [c for c in contents if c]
    if contents:
        return max(contents, key=len), False
    detail = entry.get("summary_detail") or {}
    return fragment_text(entry.get("summary") or "", detail.get("type") or "text/html"), True


def read_feed(path: Path, source: str, log: Log, advance: Advance) -> Iterator[Article]:
    import feedparser

    raw = read_whole(path, source, log, hint="split the feed into smaller files")
    if raw is None:
        return
    advance(len(raw))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feed = feedparser.parse(raw)
    except Exception as e:  # feedparser is lenient, but one bad file must never stop a run
        log.skip(source, f"not a readable RSS or Atom feed ({type(e).__name__}: {e})"[:300])
        return
    problem = feed.get("bozo_exception") if feed.get("bozo") else None
    if isinstance(problem, (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)):
        problem = None  # a wrong encoding declaration or content type: the entries are still sound
    if not feed.entries:
        why = f"not a readable RSS or Atom feed ({problem})" if problem else (
            "an RSS/Atom feed with no entries" if feed.get("version") else "not an RSS or Atom feed")
        log.skip(source, why)
        return
    if problem:
        log.warn(source, f"the feed is damaged ({problem}); read the {len(feed.entries)} entries before the damage")
    publisher = feed.feed.get("title") or None
    for n, entry in enumerate(feed.entries, start=1):
        link = (entry.get("link") or "").strip() or None
        where = f"{source} entry {n}" + (f" ({link})" if link else "")
        text, excerpt = _entry_text(entry)
        if not text:
            log.skip(where, "no text: the entry has neither content nor a summary")
            continue
        date, date_source, confidence = _entry_date(entry)
        if date is None:
            log.warn(where, f"the entry has no date; {UNDATED}")
        title = " ".join((entry.get("title") or "").split()) or text.split("\n", 1)[0][:120]
        yield Article(
            article_id(title, date, text), f"{source}#{link or n}", title[:300], date, text,
            publisher=publisher, url=link, author=entry.get("author") or None,
            date_source=date_source, date_confidence=confidence, excerpt=excerpt,
        )
