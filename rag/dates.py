"""Dates in questions: turn "in January 2022", "before 2022", "latest" into a window or an ordering.

Deterministic and LLM-free; "today" is a parameter so tests can fix it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["DateIntent", "parse_question_dates"]

Order = Literal["newest", "oldest"] | None

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))


def _m(n: int) -> str:
    return rf"(?P<month{n}>{_MONTH_NAMES})\.?"


def _y(n: int) -> str:
    return rf"(?P<year{n}>(?:19|20)\d{{2}})"


def _d(n: int) -> str:
    return rf"(?P<day{n}>\d{{1,2}})(?:st|nd|rd|th)?"


# "2022-01-05", "Jan 5, 2022", "5 January 2022", "January 2022", "2022"
_POINT = re.compile(
    rf"\b(?:(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})|{_m(1)}\s+{_d(1)},?\s+{_y(1)}|{_d(2)}\s+{_m(2)},?\s+{_y(2)}"
    rf"|{_m(3)},?\s+(?:of\s+)?{_y(3)}|{_y(4)})\b",
    re.IGNORECASE,
)
_BEFORE = re.compile(r"\b(before|prior to|until|up to|through|as of|by)\s*$", re.IGNORECASE)
_AFTER = re.compile(r"\b(after|since|from|following|later than)\s*$", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s*$", re.IGNORECASE)
_NEWEST = re.compile(r"\b(latest|most recent(?:ly)?|newest|recent(?:ly)?|so far|to date)\b", re.IGNORECASE)
_OLDEST = re.compile(r"\b(first|earliest|oldest|initial(?:ly)?|original(?:ly)?)\b", re.IGNORECASE)
_RELATIVE = re.compile(r"\b(this|last|past) (year|month|week)\b", re.IGNORECASE)
# "since the charges", "after the interview": an event, resolved against the corpus later
_EVENT = re.compile(r"\b(since|after|following|before|prior to)\s+(?:the\s+|a\s+|an\s+|his\s+|her\s+|their\s+)?(?P<event>[a-z][\w-]*(?:\s+[a-z][\w-]*)?)", re.IGNORECASE)


@dataclass(frozen=True)
class DateIntent:
    """What a question says about time.

    ``since``/``until`` bound publication dates (inclusive); ``order`` asks for the
    newest or oldest relevant reports; ``event`` is a phrase such as "charges" in
    "since the charges", whose date only the corpus can tell; ``spans`` are the
    character spans of the question that carried this, so they can be removed
    before searching by meaning.
    """

    since: dt.date | None = None
    until: dt.date | None = None
    order: Order = None
    event: str | None = None
    event_side: Literal["after", "before"] | None = None
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.since is None and self.until is None and self.order is None and self.event is None


def _range_of(m: re.Match) -> tuple[dt.date, dt.date]:
    g = {k: v for k, v in m.groupdict().items() if v}
    if "iso" in g:
        d = dt.date.fromisoformat(g["iso"])
        return d, d
    n = next(k[-1] for k in g if k.startswith("year"))
    year = int(g[f"year{n}"])
    if f"month{n}" in g:
        month = _MONTHS[g[f"month{n}"].lower().rstrip(".")]
        if f"day{n}" in g:
            d = dt.date(year, month, int(g[f"day{n}"]))
            return d, d
        return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def parse_question_dates(question: str, *, today: dt.date | None = None) -> DateIntent:
    """Find the date window or ordering a question asks for.

    >>> parse_question_dates("What happened in January 2022?")
    DateIntent(since=datetime.date(2022, 1, 1), until=datetime.date(2022, 1, 31), ...)
    """
    today = today or dt.date.today()
    since = until = None
    spans: list[tuple[int, int]] = []
    points = []
    for m in _POINT.finditer(question):
        try:
            points.append((m, *_range_of(m)))
        except ValueError:  # "February 30, 2022": not a date, so not a filter
            continue
    between = False
    for m, lo, hi in points:
        prefix = question[: m.start()]
        start = m.start()
        if b := _BEFORE.search(prefix):
            word = b.group(1).lower()
            # "as of", "by", "until", "through" include the named period; "before" excludes it
            until = hi if word in ("as of", "by", "until", "through", "up to") or lo == dt.date.min else lo - dt.timedelta(days=1)
            start = b.start()
        elif a := _AFTER.search(prefix):
            word = a.group(1).lower()
            since = lo if word in ("since", "from") or hi == dt.date.max else hi + dt.timedelta(days=1)
            start = a.start()
        elif _BETWEEN.search(prefix) or (between and re.search(r"\band\s*$", prefix)):
            if not between:
                since, between = lo, True
                start = _BETWEEN.search(prefix).start()
            else:
                until = hi
                start = re.search(r"\band\s*$", prefix).start()
        else:
            prep = re.search(r"\b(in|during|on|of|from)\s*$", prefix)
            since, until = lo, hi
            start = prep.start() if prep else start
        spans.append((start, m.end()))
    if r := _RELATIVE.search(question):
        unit = r.group(2).lower()
        days = {"year": 365, "month": 31, "week": 7}[unit]
        since, until = today - dt.timedelta(days=days), today
        spans.append(r.span())
    order: Order = None
    event = side = None
    if not points:
        if e := _EVENT.search(question):
            word = e.group(1).lower()
            event, side = e.group("event").lower(), "before" if word in ("before", "prior to") else "after"
            spans.append(e.span())
    if n := _NEWEST.search(question):
        order = "newest"
        spans.append(n.span())
    if order is None and (o := _OLDEST.search(question)):
        order = "oldest"
        spans.append(o.span())
    return DateIntent(since, until, order, event, side, tuple(sorted(spans)))
