"""Dates in questions: find each date a question names, how it is named, and any order it asks for.

Reading a date is separate from deciding what to do with it. ``parse_question_dates``
returns every date mention with the words around it (its *cue*): "before 2022" is a
bound, "reported in January 2022" names publication, "this week" is relative to
today, "on January 6, 2021" is bare. Question analysis (``rag.analysis``) then decides
which mentions narrow the articles searched and which only raise matching passages:
a bare date is usually when an event happened, and the articles reporting it may
have been published long after.

Deterministic and LLM-free; "today" is a parameter so tests can fix it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["DateIntent", "DateMention", "HOLIDAY", "parse_question_dates"]

Order = Literal["newest", "oldest"] | None
Cue = Literal["bound", "range", "publication", "relative", "bare"]

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))


def _m(n: int) -> str:
    return rf"(?P<month{n}>{_MONTH_NAMES})\.?"


def _y(n: int) -> str:
    return rf"(?P<year{n}>(?:1[89]|20)\d{{2}})"


def _d(n: int) -> str:
    return rf"(?P<day{n}>\d{{1,2}})(?:st|nd|rd|th)?"


# "2022-01-05", "Jan 5, 2022", "5 January 2022", "January 2022", "2022", and in figures "2022/01/05",
# "1/5/2022", "05.01.2022"
_POINT = re.compile(
    rf"\b(?:(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})|{_m(1)}\s+{_d(1)},?\s+{_y(1)}|{_d(2)}\s+(?:of\s+)?{_m(2)},?\s+{_y(2)}"
    rf"|{_m(3)},?\s+(?:of\s+)?{_y(3)}"
    r"|(?P<ymd>(?:1[89]|20)\d{2})/(?P<ymd_month>\d{1,2})/(?P<ymd_day>\d{1,2})"
    r"|(?P<first>\d{1,2})(?P<sep>[/.-])(?P<second>\d{1,2})(?P=sep)(?P<figures_year>(?:1[89]|20)\d{2})"
    rf"|{_y(4)})\b(?!-)",
    re.IGNORECASE,
)
# Holidays whose day is the same wherever the corpus comes from (Easter by the Western reckoning, Thanksgiving
# the United States' fourth Thursday of November): "around Christmas 2021" is a date, not a name to look for.
HOLIDAY = re.compile(
    r"\b(?P<holiday>Christmas(?:\s+(?:Eve|Day))?|New\s+Year['’]?s(?:\s+(?:Eve|Day))?|Halloween|"
    r"Valentine['’]?s(?:\s+Day)?|Easter(?:\s+(?:Sunday|Monday))?|Thanksgiving(?:\s+Day)?|Boxing\s+Day)"
    r"(?:,?\s+(?:of\s+)?(?P<hyear>(?:1[89]|20)\d{2}))?\b",
    re.IGNORECASE,
)
#: A holiday names the days around it too: what was said "at Christmas" was often published the day before.
HOLIDAY_DAYS = 3
# Part of a year or month: "early 2023", "mid-2022", "late January 2022", "summer 2022", "the first half of
# 2022", "Q3 2021", "the fourth quarter of 2021". Early, mid and late are thirds (of a year: January-April,
# May-August, September-December; of a month: 1-10, 11-20, 21-end); seasons are the northern meteorological
# ones, winter being the one that ends in the year named (December to February).
_PERIOD = re.compile(
    rf"\b(?:(?:the\s+)?(?P<third>early|mid|middle|late)(?:[\s-]+of)?[\s-]+(?:{_m(5)}\s+)?"
    r"|(?:the\s+)?(?P<season>spring|summer|autumn|fall|winter)\s+(?:of\s+)?"
    r"|(?:the\s+)?(?P<half>first|second)\s+half\s+of\s+"
    r"|(?:the\s+)?(?P<quarter>first|second|third|fourth)\s+quarter\s+of\s+|(?P<q>Q[1-4])\s+)"
    rf"{_y(5)}\b(?!-)",
    re.IGNORECASE,
)
# The question says what day it is asked on: "Today is January 15, 2022.", "It is now January 2022.",
# "Assume it is 15 January 2022:", "As of today (2022-01-15), ...", "(asked on 2022-01-15)", "Current date:
# 2022-01-15." Nothing published after that day can be known, and "this week" counts back from it.
_NOW = re.compile(
    r"\b(?:(?:today|today['’]s\s+date|the\s+(?:current\s+)?date|current\s+date|date)\s*(?:is\s+(?:now\s+)?|:\s*)"
    r"|it\s+is\s+(?:now\s+)?|(?:assum\w*|pretend|suppose|imagine)\s+(?:that\s+)?(?:it\s+is|today\s+is)\s+(?:now\s+)?"
    r"|as\s+of\s+today,?\s*[(\[]?\s*|(?:asked|written|posed)\s+(?:on|as\s+of)\s+)$",
    re.IGNORECASE,
)
_NAME_BEFORE = re.compile(r"[^\s.!?]\s+[A-Z][\w’'-]*\s+$")  # a capitalised word that does not open the sentence
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_SEASON = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11), "fall": (9, 11), "winter": (0, 2)}
_BEFORE = re.compile(
    r"\b(before|prior to|up until|up till|until|till|up to|through|as of|as at|by|no later than|earlier than)\s*$",
    re.I)
_AFTER = re.compile(r"\b(after|since|following|later than|starting)\s*$", re.IGNORECASE)
_INCLUSIVE = frozenset({"as of", "as at", "by", "until", "till", "up until", "up till", "through", "up to",
                        "no later than", "since", "starting"})
_PART_OF = re.compile(r"\s+the\s+(end|close|start|beginning)\s+of\s*$", re.IGNORECASE)
_RANGE_START = re.compile(r"\b(between|from)\s*(?:the\s+)?$", re.IGNORECASE)
_RANGE_JOIN = re.compile(r"^\s*(?:and|to|until|till|through|-|–|—)\s*(?:the\s+)?$", re.IGNORECASE)
# A date that names when something was published, not when it happened: "reported in January 2022",
# "articles from 2023", "the story published on December 2".
_PUBLICATION = re.compile(
    r"\b(?:publish\w*|report\w*|articles?|stor(?:y|ies)|coverage|news|headlines?|wr[io]te|written|posted|"
    r"editions?|issues?|press)\b(?:\W+\w+){0,3}\W*(?:in|on|from|during|of|dated)?\s*$",
    re.IGNORECASE,
)
_NEWEST = re.compile(r"\b(latest|most recent(?:ly)?|newest|recent(?:ly)?|so far|to date|currently|now)\b", re.I)
_OLDEST = re.compile(
    r"\b(earliest|oldest|originally|initially|at first|"
    r"first(?=\s+(?:reports?|reported|articles?|stor(?:y|ies)|coverage|news|mentions?|mentioned|said|say|says|"
    r"announced?|claimed?|described?|learned|appeared|time)\b))\b",
    re.IGNORECASE,
)
_COUNTS = {w: n for n, w in enumerate("two three four five six seven eight nine ten eleven twelve".split(), start=2)}
# "this week", "last year", "the past two weeks", "the last 30 days", "today", "yesterday": a window ending
# today. Never "the previous year" or "past years", which compare rather than bound, nor "the last day" (of a trial).
_RELATIVE = re.compile(
    rf"\b(?:this|last|past)\s+(?:(?P<count>\d{{1,3}}|{'|'.join(_COUNTS)})\s+(?P<units>year|month|week|day)s"
    r"|(?P<unit>year|month|week))\b|\b(?P<day>today|yesterday)\b",
    re.IGNORECASE,
)
_UNIT_DAYS = {"year": 365, "month": 31, "week": 7, "day": 1, "today": 0, "yesterday": 1}
# "since the charges", "after the interview": an event, resolved against the corpus later
_EVENT = re.compile(
    r"\b(since|after|following|before|prior to)\s+(?:the\s+|a\s+|an\s+|his\s+|her\s+|their\s+)?"
    r"(?P<event>[a-z][\w-]*(?:\s+[a-z][\w-]*)?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DateMention:
    """One date the question names: its characters, the days it covers, and the words that frame it.

    ``cue`` is "bound" ("before 2022", "as of May 1": one end open), "range"
    ("between May and June"), "publication" ("reported in 2023"), "relative"
    ("this week") or "bare" ("on January 6, 2021").
    """

    start: int
    end: int
    since: dt.date | None
    until: dt.date | None
    cue: Cue


@dataclass(frozen=True)
class DateIntent:
    """What a question says about time.

    ``since``/``until`` is the window all its date mentions state together (inclusive);
    ``mentions`` has each one with its cue; ``order`` asks for the newest or oldest
    relevant reports; ``event`` is a phrase such as "charges" in "since the charges",
    whose date only the corpus can tell; ``spans`` are the character spans of the
    question that carried any of this.
    """

    since: dt.date | None = None
    until: dt.date | None = None
    order: Order = None
    event: str | None = None
    event_side: Literal["after", "before"] | None = None
    spans: tuple[tuple[int, int], ...] = ()
    mentions: tuple[DateMention, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.since is None and self.until is None and self.order is None and self.event is None


def _range_of(m: re.Match) -> tuple[dt.date, dt.date]:
    g = {k: v for k, v in m.groupdict().items() if v}
    if "iso" in g:
        d = dt.date.fromisoformat(g["iso"])
        return d, d
    if "ymd" in g:
        d = dt.date(int(g["ymd"]), int(g["ymd_month"]), int(g["ymd_day"]))
        return d, d
    if "first" in g:
        d = _figures(int(g["first"]), int(g["second"]), int(g["figures_year"]), g["sep"])
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


def _months(year: int, first: int, last: int) -> tuple[dt.date, dt.date]:
    """First to last month of ``year`` (month 0 is the December before)."""
    start = dt.date(year - 1, 12, 1) if first == 0 else dt.date(year, first, 1)
    return start, dt.date(year, last, calendar.monthrange(year, last)[1])


def _period(m: re.Match) -> tuple[dt.date, dt.date]:
    """The days of a part of a year or month matched by ``_PERIOD``."""
    year = int(m.group("year5"))
    if third := m.group("third"):
        n = {"early": 0, "mid": 1, "middle": 1, "late": 2}[third.lower()]
        if month := m.group("month5"):
            month_n = _MONTHS[month.lower().rstrip(".")]
            end = calendar.monthrange(year, month_n)[1]
            return dt.date(year, month_n, 1 + 10 * n), dt.date(year, month_n, (10, 20, end)[n])
        return _months(year, 1 + 4 * n, 4 + 4 * n)
    if season := m.group("season"):
        return _months(year, *_SEASON[season.lower()])
    if half := m.group("half"):
        n = _ORDINAL[half.lower()]
        return _months(year, 6 * n - 5, 6 * n)
    n = _ORDINAL[m.group("quarter").lower()] if m.group("quarter") else int(m.group("q")[1])
    return _months(year, 3 * n - 2, 3 * n)


def _holiday(name: str, year: int) -> dt.date:
    """The day of the holiday ``name`` (as matched by ``HOLIDAY``) in ``year``."""
    from dateutil.easter import easter

    name = " ".join(name.lower().split())
    word, eve = name.split()[0], name.endswith("eve")
    if word == "christmas":
        return dt.date(year, 12, 24 if eve else 25)
    if word.startswith("new"):  # New Year's Eve closes the year; New Year's (Day) opens it
        return dt.date(year, 12, 31) if eve else dt.date(year, 1, 1)
    if word == "halloween":
        return dt.date(year, 10, 31)
    if word.startswith("valentine"):
        return dt.date(year, 2, 14)
    if word == "boxing":
        return dt.date(year, 12, 26)
    if word == "easter":
        return easter(year) + dt.timedelta(days=1 if name.endswith("monday") else 0)
    first = dt.date(year, 11, 1)  # Thanksgiving: the fourth Thursday of November
    return first + dt.timedelta(days=(3 - first.weekday()) % 7 + 21)


def _figures(first: int, second: int, year: int, sep: str) -> dt.date:
    """A date written in figures: day first with dots ("05.01.2022") or when the first number cannot be a
    month ("25/12/2021"); otherwise month first, as American English writes it ("1/5/2022" is January 5)."""
    if sep == "." or first > 12:
        return dt.date(year, second, first)
    return dt.date(year, first, second)


def _inside(pos: int, spans) -> bool:
    """``pos`` falls within one of the (start, end) ``spans`` another reading of the question has taken."""
    return any(a <= pos < b for a, b in spans)


def _shift(d: dt.date, days: int) -> dt.date:
    try:
        return d + dt.timedelta(days=days)
    except OverflowError:  # the ends of the calendar stay where they are
        return d


def parse_question_dates(question: str, *, today: dt.date | None = None) -> DateIntent:
    """Every date a question names, with its cue, and the newest/oldest order it asks for.

    >>> i = parse_question_dates("What was reported in January 2022?")
    >>> i.since, i.until, i.mentions[0].cue
    (datetime.date(2022, 1, 1), datetime.date(2022, 1, 31), 'publication')
    """
    today = today or dt.date.today()
    points = []
    for h in HOLIDAY.finditer(question):
        if h.group("hyear"):
            day = _holiday(h.group("holiday"), int(h.group("hyear")))
            points.append((h, _shift(day, -HOLIDAY_DAYS), _shift(day, HOLIDAY_DAYS)))
    for p in _PERIOD.finditer(question):
        if p.group("season") and p.group("season")[0].isupper() and _NAME_BEFORE.search(question[: p.start()]):
            continue  # "the Arab Spring 2011 protests": a season after a capitalised word is part of a name
        if not _inside(p.start(), [x[0].span() for x in points]):
            points.append((p, *_period(p)))
    taken = [p[0].span() for p in points]
    for m in _POINT.finditer(question):
        if _inside(m.start(), taken):
            continue  # the year of "Christmas 2021"
        try:
            points.append((m, *_range_of(m)))
        except ValueError:  # "February 30, 2022": not a date
            continue
    points.sort(key=lambda p: p[0].start())
    mentions: list[DateMention] = []
    now: list[tuple[int, int]] = []  # the spans that say what day it is
    i = 0
    while i < len(points):
        m, lo, hi = points[i]
        prefix = question[: m.start()]
        if said := _NOW.search(prefix):
            today = hi  # the question is asked as of that day: later reports cannot be known
            mentions.append(DateMention(said.start(), m.end(), None, hi, "bound"))
            now.append((said.start(), m.end()))
            i += 1
            continue
        if (r := _RANGE_START.search(prefix)) and i + 1 < len(points) and \
                _RANGE_JOIN.match(question[m.end() : points[i + 1][0].start()]):
            nxt, _, hi2 = points[i + 1]
            a, b = (lo, hi2) if lo <= hi2 else (points[i + 1][1], hi)  # "between June and May" means May to June
            mentions.append(DateMention(r.start(), nxt.end(), a, b, "range"))
            i += 2
            continue
        if (part := _PART_OF.search(prefix)) and (_BEFORE.search(prefix[: part.start()])
                                                  or _AFTER.search(prefix[: part.start()])):
            # "by the end of 2021", "since the start of 2022": the bound is that end of the period
            lo = hi = hi if part.group(1).lower() in ("end", "close") else lo
            prefix = prefix[: part.start()]
        if b := _BEFORE.search(prefix):
            word = " ".join(b.group(1).lower().split())
            until = hi if word in _INCLUSIVE else _shift(lo, -1)
            mentions.append(DateMention(b.start(), m.end(), None, until, "bound"))
        elif a := _AFTER.search(prefix):
            word = a.group(1).lower()
            since = lo if word in _INCLUSIVE else _shift(hi, 1)
            mentions.append(DateMention(a.start(), m.end(), since, None, "bound"))
        else:
            prep = re.search(r"\b(in|during|on|of|from|dated)\s*$", prefix)
            start = prep.start() if prep else m.start()
            cue: Cue = "publication" if _PUBLICATION.search(prefix[-60:]) else "bare"
            mentions.append(DateMention(start, m.end(), lo, hi, cue))
        i += 1
    for r in _RELATIVE.finditer(question):
        if _inside(r.start(), now):
            continue  # the "today" of "Today is January 15, 2022"
        before = question[: r.start()].rstrip()
        if r.group("day") and r.group()[0].isupper() and before and before[-1] not in ".!?\"“(":
            continue  # "USA Today", "Business Today": a capital inside a sentence makes it a name
        count = r.group("count") or "1"
        n = int(count) if count.isdigit() else _COUNTS[count.lower()]
        days = n * _UNIT_DAYS[(r.group("units") or r.group("unit") or r.group("day")).lower()]
        mentions.append(DateMention(r.start(), r.end(), _shift(today, -days), today, "relative"))
    mentions.sort(key=lambda x: x.start)
    since = until = None
    for x in mentions:  # what the words state together: the narrowest window they all allow
        if x.since is not None:
            since = max(since, x.since) if since else x.since
        if x.until is not None:
            until = min(until, x.until) if until else x.until
    spans = [(x.start, x.end) for x in mentions]
    event = side = None
    if not points:
        if e := _EVENT.search(question):
            word = e.group(1).lower()
            event, side = e.group("event").lower(), "before" if word in ("before", "prior to") else "after"
            spans.append(e.span())
    order: Order = None
    if n := next((x for x in _NEWEST.finditer(question) if not _inside(x.start(), now)), None):
        order = "newest"  # not the "now" of "It is now January 2022"
        spans.append(n.span())
    elif o := _OLDEST.search(question):
        order = "oldest"
        spans.append(o.span())
    return DateIntent(since, until, order, event, side, tuple(sorted(spans)), tuple(mentions))
