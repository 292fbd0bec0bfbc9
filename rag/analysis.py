"""Question analysis: what a question asks, over which publication dates, about which reports — read once.

The result is one typed ``Question`` that retrieval, the reader and the composer
all read, so no later stage re-parses the words. The rules here decide only what
the words *say* (a follow-up's missing subject, which dates narrow the articles
and which merely name when something happened, what kind of answer is asked for,
whether two reports are compared); how well a sentence answers is learned by the
reader (``rag.reader``), not decided here.

Dates: a date narrows the articles searched only when the words frame it as
publication ("reported in January 2022", "articles from 2023", "this week", "as
of May 1") or as a bound on the whole question ("before 2022, did ..."). A bare
date ("violence on January 6, 2021", "his 2024 bid") names when something
happened; articles about it may be published long after, so it only raises the
passages and articles that match it. Dates that pick out the reports a question
compares ("the article of December 2 and the one of January 3") raise those
reports and never filter. Nothing a question says makes analysis raise: a window
its words cannot satisfy becomes an answer saying so.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .dates import HOLIDAY, DateIntent, parse_question_dates
from .query import Part, PublisherMatcher, analyse, clauses

__all__ = ["Question", "AnswerType", "analyse_question", "resolve_followup", "answer_type", "content_words"]

AnswerType = Literal["person", "time", "place", "quantity", "entity", "yesno", "description"]

WORD = re.compile(r"[0-9A-Za-zÀ-ÖØ-öø-ÿ]+(?:['’][A-Za-z]+)?")
STOP = frozenset(
    "a an the and or but if of to in on at by for with from about as into over after before since until is are was "
    "were be been being do does did doing have has had having i me my we our you your he him his she her it its they "
    "them their this that these those there here what which who whom whose when where why how not no nor so than too "
    "very can could will would shall should may might must just also any all some such only own same other more most "
    "say said says tell told according article articles report reported news".split()
)
# Words that ask about coverage in general: a question made only of these (and dates) asks "what was reported".
_GENERIC = frozenset("happen happened happening going new latest recent update updates story stories coverage "
                     "development developments published write wrote written".split())
_NAME = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:of\s+|de\s+|van\s+|al-)?[A-Z][\w’'.-]*)*")
_FOLLOWUP = re.compile(
    r"\b(he|she|it|they|him|her|his|hers|its|their|them|this|that|these|those|the same|then)\b"
    r"|^\s*(and|what about|how about|why|so)\b",
    re.IGNORECASE,
)
_WH = re.compile(r"\b(who|whom|whose|when|where|which|what|how\s+(?:many|much|long|old|far|big|large|often)|why|how)\b",
                 re.IGNORECASE)
_AUX = frozenset("is was are were did does do has have had will would can could should may might must".split())
_SUBORDINATE = frozenset(("when", "where"))  # may open a clause before the question: "When X fell, who ...?"
_WHO_IS_NAME = re.compile(r"(?:is|was|are|were)\s+(?:[A-Z][\w’'.-]*\s*)+\??\s*")
_NAME_OF = re.compile(r"^(?:is|was|are|were)\s+the\s+names?\s+of\b", re.IGNORECASE)
_TIME_NOUN = re.compile(r"^(?:year|date|day|month|time|decade|century|season|week)s?\b", re.IGNORECASE)
_PLACE_NOUN = re.compile(r"^(?:city|country|state|place|location|town|venue|county|region|nation|stadium|court)\b",
                         re.IGNORECASE)
_QUANTITY_NOUN = re.compile(r"^(?:percentage|percent|number|amount|price|age|score|fee|sum|total|cost|rate)\b",
                            re.IGNORECASE)
# The words of a question that ask how reports relate: one side of the answer per report.
_COMPARES = re.compile(
    r"\b(compar\w*|consisten\w*|inconsisten\w*|agree\w*|disagree\w*|differ\w*|align\w*|contradict\w*|"
    r"chang\w*|shift\w*|same|both|whereas|while|versus|vs\.?|subsequent\w*|earlier|later|previous\w*|"
    r"before|after)\b",
    re.IGNORECASE,
)
_MONTHS = frozenset("January February March April May June July August September October November December Monday "
                    "Tuesday Wednesday Thursday Friday Saturday Sunday".split())


@dataclass(frozen=True)
class Question:
    """A question read once: its words, the publication window it may use, and what kind of answer it wants.

    ``text`` is self-contained (a follow-up completed from the conversation);
    ``search`` is what retrieval searches (``text`` without the words that only
    set the window or the order). ``since``/``until`` is the publication window:
    the caller's, narrowed by the question's own words where they name one.
    ``empty`` is true when that window holds no day. ``boosts`` are the date
    windows the question names that only raise matching articles. ``parts``
    are the reports a comparison refers to (one side of the answer each).
    """

    asked: str
    text: str
    search: str
    since: dt.date | None = None
    until: dt.date | None = None
    empty: bool = False
    window_from_words: bool = False
    order: Literal["newest", "oldest"] | None = None
    answer_type: AnswerType = "description"
    compares: bool = False
    parts: tuple[Part, ...] = ()
    names: tuple[str, ...] = ()
    publishers: frozenset[str] = frozenset()
    boosts: tuple[tuple[dt.date | None, dt.date | None], ...] = ()
    generic: bool = False
    topic: str = ""  # the question without the words that only date it: what an answer must cover
    today: dt.date | None = None

    @property
    def resolved(self) -> str | None:
        """The follow-up as rewritten, when it was."""
        return self.text if self.text != self.asked else None


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that carry meaning (no stopwords)."""
    return [w for w in (m.group().lower().replace("’", "'") for m in WORD.finditer(text)) if w not in STOP]


def resolve_followup(question: str, history: Sequence[tuple[str, str]]) -> str:
    """Make a follow-up self-contained by carrying the names and topic words of the last turn.

    "What did his lawyer say about it?" after "Who handed Alec Baldwin the gun?"
    becomes "What did his lawyer say about it? (Alec Baldwin handed gun)".
    """
    if not history:
        return question
    prev_q, prev_a = history[-1]
    q_words = set(content_words(question))
    if not _FOLLOWUP.search(question) and len(q_words) >= 4:
        return question
    names = [n for n in _NAME.findall(prev_q) if n.lower() not in STOP and n.lower() not in q_words]
    answer_first = re.split(r"(?<=[.!?])\s", re.sub(r"\[\d+\]", "", prev_a or ""), maxsplit=1)[0]
    names += [n for n in _NAME.findall(answer_first)[:3] if n.lower() not in STOP]
    topic = [w for w in content_words(prev_q) if w not in q_words and not any(w in n.lower() for n in names)]
    extra = list(dict.fromkeys(names + topic))
    return f"{question} ({' '.join(extra)})" if extra else question


def answer_type(question: str) -> AnswerType:
    """The kind of answer asked for, from the question word: a person, a time, a place, a quantity, ...

    >>> answer_type("According to the report, how many minutes did it last?")
    'quantity'
    """
    words = question.strip().split()
    m = _WH.search(question)
    if m is not None and not question[: m.start()].strip() and m.group(1).lower() in _SUBORDINATE:
        # "When Hutchins collapsed, what did Baldwin assume?": the clause after the comma asks
        main = re.search(r",\s*(?=" + _WH.pattern + ")", question[m.end() :], re.IGNORECASE)
        if main is not None:
            m = _WH.search(question, m.end() + main.end())
    if m is None or (words and words[0].lower() in _AUX and m.start() > len(words[0]) + 20):
        # "Did ...?", or a clause after a leading phrase: "Between the two reports, did he ...?"
        clauses = [c.split() for c in re.split(r"[,;:]", question)]
        return "yesno" if any(c and c[0].lower() in _AUX for c in clauses) else "description"
    wh = " ".join(m.group(1).lower().split())
    rest = question[m.end() :].lstrip()
    if wh in ("who", "whom", "whose"):
        # "Who is Dave Halls?" asks what the person is, not for a name
        return "description" if _WHO_IS_NAME.fullmatch(rest) else "person"
    if wh == "what" and _NAME_OF.match(rest):
        return "entity"  # "What was the name of the cinematographer ...?"
    if wh == "when" or (wh in ("what", "which") and _TIME_NOUN.match(rest)):
        return "time"
    if wh == "where" or (wh in ("what", "which") and _PLACE_NOUN.match(rest)):
        return "place"
    if wh.startswith("how ") or (wh in ("what", "which") and _QUANTITY_NOUN.match(rest)):
        return "quantity"
    if wh == "which" or (wh == "what" and rest.split(" ", 1)[0].lower() not in _AUX):
        return "entity"
    return "description"


_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")


def question_names(question: str) -> tuple[str, ...]:
    """The proper names a question uses ("Alec Baldwin", "Halyna Hutchins"), as the articles would write them.

    Question words, months and a sentence's capitalised first word are left out;
    possessives and quotes are taken off ("Google's" is Google, "'Sporting News'" is Sporting News).
    """
    out = []
    question = HOLIDAY.sub(lambda h: " " * len(h.group()), question)  # "Christmas" is a date, not a name
    for m in _NAME.finditer(question):
        words = [w.strip("'’‘\"“”.,") for w in m.group().split()]
        words = [_POSSESSIVE.sub("", w) for w in words]
        words = [w for w in words if w and w.lower() not in STOP and w not in _MONTHS]
        if not words:
            continue
        if m.start() == 0 and len(m.group().split()) == 1:
            continue  # "Between the article ...", "Considering ...": capitalised only because it opens the question
        out.append(" ".join(words))
    return tuple(dict.fromkeys(out))


def _strip(text: str, spans: Sequence[tuple[int, int]]) -> str:
    out, last = [], 0
    for a, b in sorted(spans):
        if a < last:
            continue
        out.append(text[last:a])
        last = b
    out.append(text[last:])
    return re.sub(r"\s+", " ", "".join(out)).strip(" ,;:-–—")


def _event_date(articles, intent: DateIntent, stems) -> dt.date | None:
    """When the event in "since the charges" happened: the first article whose headline or lede reports it."""
    want = stems(intent.event or "")
    if not want:
        return None
    dated = [a.date for a in articles if a.date and want <= stems(a.title + " " + a.text[:600])]
    return min(dated) if dated else None


def analyse_question(question: str, *, history: Sequence[tuple[str, str]] = (), since: dt.date | None = None,
                     until: dt.date | None = None, today: dt.date | None = None,
                     matcher: PublisherMatcher | None = None, articles: Sequence = (), stems=None) -> Question:
    """Read ``question`` once: follow-up, publication window, boosts, order, answer type, compared reports.

    ``since``/``until`` are the caller's window (already valid dates); the
    question's words can only narrow it. ``articles`` (with ``stems``, a word
    stemmer returning a set) let "since the charges" find the date of the charges.
    """
    text = resolve_followup(question, history)
    intent = parse_question_dates(text, today=today)
    found = analyse(text, matcher, today=today)
    named_publishers = found.publishers
    mentions = intent.mentions
    cues = {m.cue for m in mentions}
    compares = bool(len(found.parts) > 1 or (_COMPARES.search(text) and (named_publishers or len(mentions) > 1))
                    or (len(mentions) > 1 and "range" not in cues))
    # which of the question's dates narrow the articles, and which only raise matching ones
    filters = []
    boosts = []
    for m in mentions:
        scoped = m.cue in ("publication", "relative", "range", "bound") and not compares
        (filters if scoped else boosts).append(m)
    rest = _strip(text, [(m.start, m.end) for m in mentions] + list(intent.spans))
    generic = not [w for w in content_words(rest) if w not in _GENERIC]
    if generic and mentions and not compares:  # "What was reported in 2023?": the date is the question
        filters, boosts = list(mentions), []
    q_since = q_until = None
    for m in filters:
        if m.since is not None:
            q_since = max(q_since, m.since) if q_since else m.since
        if m.until is not None:
            q_until = min(q_until, m.until) if q_until else m.until
    if q_since and q_until and q_since > q_until:
        # "before 1900 or after 2099": no one window; the dates only raise what matches them
        boosts += filters
        filters, q_since, q_until = [], None, None
    if intent.event and articles and stems is not None and not compares:
        when = _event_date(articles, intent, stems)
        if when and intent.event_side == "after":
            q_since = max(q_since, when) if q_since else when
        elif when and any(a.date and a.date < when for a in articles):
            # "before the charges": the reports that came before them. When the first report of the event is
            # the archive's first report ("before the rehearsal" of a story that opens with it), "before" is
            # when things happened in the story, not which reports to read: no bound, never an empty window
            q_until = min(q_until, when - dt.timedelta(days=1)) if q_until else when - dt.timedelta(days=1)
    lo = max([d for d in (since, q_since) if d], default=None)
    hi = min([d for d in (until, today if today else None, q_until) if d], default=None)
    stripped = [(m.start, m.end) for m in filters] + [s for s in intent.spans
                                                      if not any(m.start <= s[0] < m.end for m in mentions)]
    search = _strip(text, stripped) if filters or intent.order or intent.event else text
    if not content_words(search):
        search = text
    parts = found.parts
    if compares and len(parts) < 2:
        cl = clauses(text, keep=[(m.start, m.end) for m in found.mentions])
        if len(cl) > 1:
            parts = tuple(Part(c) for c in cl)
    return Question(
        asked=question, text=text, search=search, since=lo, until=hi, empty=bool(lo and hi and lo > hi),
        window_from_words=bool(q_since or q_until), order=intent.order, answer_type=answer_type(question),
        compares=compares, parts=parts if compares else (), names=question_names(text),
        publishers=named_publishers, boosts=tuple((m.since, m.until) for m in boosts), generic=generic,
        today=today, topic=rest if content_words(rest) else search,
    )
