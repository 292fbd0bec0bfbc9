"""Question analysis for retrieval: the publishers and dates a question names, and the parts it asks about.

A question such as "Does the TechCrunch article on X, published on October 6, 2023,
agree with The Verge's report on Y?" asks about two articles. ``analyse`` finds
the publisher mentions (names taken from the index's own article metadata, never
from a fixed list), reads each date with ``rag.dates``, attaches it to the
publisher it follows, and returns one ``Part`` per distinct (publishers, dates)
pair, so retrieval can run one search per part and give each its share of the
top k. ``clauses`` cuts a question that strings several claims together ("which
company makes X, and faces Y, while Z") into one search text per claim.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .dates import parse_question_dates

__all__ = ["Analysis", "Mention", "Part", "PublisherMatcher", "analyse", "clauses", "publisher_aliases"]

# "FOX News - Lifestyle", "Cnbc | World Business News Leader", "Live Science: The Most Interesting Articles":
# the name before the separator is how people cite the publication.
_SEPARATOR = re.compile(r"\s+[|\-–—]\s+|:\s+")
_DOMAIN = re.compile(r"\.(?:com|co\.uk|org|net|news)$", re.IGNORECASE)


def publisher_aliases(name: str) -> set[str]:
    """The ways a question may write publisher ``name``: in full, before a separator, without "The" or ".com".

    >>> sorted(publisher_aliases("The Independent - Life and Style"))
    ['Independent - Life and Style', 'The Independent', 'The Independent - Life and Style']
    """
    name = " ".join(name.split())
    out = {name}
    head = _SEPARATOR.split(name, maxsplit=1)[0].strip()
    if len(head) >= 3:
        out.add(head)
    for a in list(out):
        if (bare := _DOMAIN.sub("", a)) != a and len(bare) >= 3:
            out.add(bare)
    for a in list(out):
        # "New York Times" for "The New York Times"; a lone word ("Age", "Verge") is too common to trust
        rest = a[4:] if a.lower().startswith("the ") else ""
        if len(rest.split()) >= 2:
            out.add(rest)
    return out


@dataclass(frozen=True)
class Mention:
    """A span of the question that names one or more publishers (an alias may fit several)."""

    start: int
    end: int
    publishers: frozenset[str]


class PublisherMatcher:
    """Finds publisher names in questions; built once per index from its articles' ``publisher`` fields."""

    def __init__(self, publishers: Iterable[str]):
        self._by_alias: dict[str, set[str]] = {}
        self._spelling: dict[str, str] = {}  # publisher -> its name as written
        for p in {p for p in publishers if p and p.strip()}:
            self._spelling[p] = " ".join(p.split())
            for a in publisher_aliases(p):
                self._by_alias.setdefault(a.casefold(), set()).add(p)
        aliases = sorted(self._by_alias, key=len, reverse=True)  # longest first: the full name wins
        self._pattern = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(a) for a in aliases) + r")(?!\w)", re.IGNORECASE)
            if aliases else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def find(self, question: str) -> list[Mention]:
        """Publisher mentions in ``question``, in order.

        A match must look like the name: written as the publisher writes it when
        the name starts with a small letter ("iMore"), else starting with a
        capital after an optional "the", so "the age of AI" does not cite *The
        Age*. A one-word name opening a sentence ("Time will tell") counts only
        when the words after it make it a publication ("Time reported", "Time's").
        """
        if self._pattern is None:
            return []
        out = []
        for m in self._pattern.finditer(question):
            text = m.group()
            names = self._by_alias.get(text.casefold())  # None when case-insensitive matching and casefold differ (ı, İ)
            if not names:
                continue
            core = text[4:] if text[:4].lower() == "the " else text
            if any(self._spelling[n][:1].islower() for n in names):
                if text not in {self._spelling[n] for n in names} and core not in self._aliases_of(names):
                    continue
            elif not core[:1].isupper() and not core[:1].isdigit():
                continue
            if " " not in text and _SENTENCE_START.search(question[: m.start()]) and \
                    not _PUBLICATION_NEXT.match(question[m.end() :]):
                continue
            out.append(Mention(m.start(), m.end(), frozenset(names)))
        return out

    def _aliases_of(self, names: Iterable[str]) -> set[str]:
        return {a for n in names for a in publisher_aliases(n)}


_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)$")
_PUBLICATION_NEXT = re.compile(
    r"(?:['’]s\b|\s+(?:magazine|report\w*|articles?|stor(?:y|ies)|pieces?|said|says|wrote|writes|published|noted|"
    r"stated|claimed|explained|found|revealed|according))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Part:
    """One thing a question asks about: its words, and the publishers and dates it names (empty: any)."""

    text: str
    publishers: frozenset[str] = frozenset()
    since: dt.date | None = None
    until: dt.date | None = None


@dataclass(frozen=True)
class Analysis:
    """What a question says beyond its words: who published and when, and its parts.

    ``publishers`` is every publisher named; ``windows`` every (since, until)
    date window named; ``parts`` has more than one entry only when the question
    names several publishers or dates, each the subject of its own search.
    """

    question: str
    publishers: frozenset[str] = frozenset()
    windows: tuple[tuple[dt.date | None, dt.date | None], ...] = ()
    parts: tuple[Part, ...] = ()
    mentions: tuple[Mention, ...] = ()

    @property
    def is_plain(self) -> bool:
        return not self.publishers and not self.windows


def _date_mentions(question: str, today: dt.date | None) -> list[tuple[int, int, dt.date | None, dt.date | None]]:
    """(start, end, since, until) for each date the question names."""
    out = []
    day = dt.timedelta(days=1)
    for m in parse_question_dates(question, today=today).mentions:
        since, until = m.since, m.until
        # "the report published after December 5" is as often the one of December 5 itself:
        # an open window keeps the day it is bounded by
        if until is None and since is not None and since > dt.date.min:
            since -= day
        elif since is None and until is not None and until < dt.date.max:
            until += day
        out.append((m.start, m.end, since, until))
    return out


def analyse(question: str, matcher: PublisherMatcher | None = None, *, today: dt.date | None = None) -> Analysis:
    """The publishers, dates and parts of ``question``.

    Each date belongs to the publisher mention it follows (the first one if it
    comes before any). Parts with the same publishers and dates are merged.

    >>> m = PublisherMatcher(["TechCrunch", "The Verge"])
    >>> [sorted(p.publishers) for p in analyse("Did TechCrunch and The Verge agree?", m).parts]
    [['TechCrunch'], ['The Verge']]
    """
    mentions = matcher.find(question) if matcher else []
    dates = _date_mentions(question, today)
    publishers = frozenset(p for m in mentions for p in m.publishers)
    windows = tuple(dict.fromkeys((s, u) for _, _, s, u in dates))
    if not mentions:
        if len(windows) < 2:
            return Analysis(question, publishers, windows)
        # several dates and no publisher: one part per date, each ending at its date
        parts, start = [], 0
        for _, e, s, u in dates:
            parts.append(Part(question[start:e].strip(), frozenset(), s, u))
            start = e
        return Analysis(question, publishers, windows, _merge(parts))
    # the question cut at each publisher mention; a segment runs from one mention to the next
    bounds = [0] + [m.start for m in mentions[1:]] + [len(question)]
    owner_dates: list[list[tuple[dt.date | None, dt.date | None]]] = [[] for _ in mentions]
    for s, _, since, until in dates:
        i = max([j for j, m in enumerate(mentions) if m.start <= s] or [0])
        owner_dates[i].append((since, until))
    parts = []
    for i, m in enumerate(mentions):
        text = question[bounds[i] : bounds[i + 1]].strip(" ,;'\"‘’“”")
        for since, until in owner_dates[i] or [(None, None)]:
            parts.append(Part(text, m.publishers, since, until))
    return Analysis(question, publishers, windows, _merge(parts), tuple(mentions))


def _merge(parts: list[Part]) -> tuple[Part, ...]:
    """One part per (publishers, since, until), texts joined; an undated part yields to a dated one.

    "... The Age on October 19 ..., which reported more, The Age or TechCrunch?"
    asks about the October 19 report of The Age, not about another one.
    """
    dated = {p.publishers for p in parts if p.since is not None or p.until is not None}
    merged: dict[tuple, Part] = {}
    for p in parts:
        if p.publishers in dated and p.since is None and p.until is None:
            continue
        key = (p.publishers, p.since, p.until)
        if key in merged:
            q = merged[key]
            merged[key] = Part(f"{q.text} {p.text}", q.publishers, q.since, q.until)
        else:
            merged[key] = p
    return tuple(merged.values())



# Where one claim of a question ends and the next begins: "X, and Y", "X while Y", "X; Y",
# "X, which Y". A multi-article question strings together one claim per article.
_CLAUSE = re.compile(
    r",?\s+(?:and also|while also|while|whereas|but also|but|and|compared to|in contrast to|as well as)\s+"
    r"|;\s+|,\s+(?=which\b|who\b|that\b|with\b)",
    re.IGNORECASE,
)


def clauses(question: str, keep: Sequence[tuple[int, int]] = ()) -> list[str]:
    """The clauses of ``question`` that have at least three words, in order.

    No cut falls inside a ``keep`` span (a publisher name such as "The
    Independent - Life and Style" holds an "and").

    >>> clauses("Which company makes the iPhone, and faces an antitrust suit in Europe?")
    ['Which company makes the iPhone', 'faces an antitrust suit in Europe']
    """
    out, start = [], 0
    for m in _CLAUSE.finditer(question):
        if any(s < m.end() and m.start() < e for s, e in keep):
            continue
        out.append(question[start : m.start()])
        start = m.end()
    out.append(question[start:])
    return [c for c in (c.strip(" ,;?.!") for c in out) if len(c.split()) >= 3]
