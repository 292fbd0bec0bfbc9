"""Names in the composer's quotes: a name written in full, a name written in a passage, the same answer twice.

A short answer is often written shortened ("Bankman-Fried"), and the composer
quotes a sentence that writes it whole; these helpers decide what counts as the
same name, so that nothing else (a headline's capitals, a weekday after a name)
is taken for part of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .analysis import WORD
from .sentences import Evidence, Span

__all__ = ["full_name", "names_in", "same_answer"]


def names_in(name: str, text: str) -> bool:
    """``name`` is written in ``text`` as whole words, as names are written ("US" is not "us")."""
    name, text = name.replace("’", "'"), text.replace("’", "'")
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


_CALENDAR = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?|"
                       r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|Jr|Sr|II|III")


def _headline_case(text: str) -> bool:
    """ "Sam Bankman-Fried Found Guilty On All Counts": most words capitalised, so capitals mark no name."""
    words = WORD.findall(text)
    return len(words) >= 4 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def full_name(name: str, ev: Sequence[Evidence]) -> str:
    """The way the passages most often write ``name`` in full: "Sam Bankman-Fried" for "Bankman-Fried",
    "Caesars Sportsbook" for "Caesars" (the shorter of equally frequent forms).

    Words after the name count only in ordinary sentences (a headline capitalises every
    word) and never a day, a month or "Jr." ("Alec Baldwin Monday", "Donald Trump Jr.").
    """
    counts: dict[str, int] = {}
    edge = r"(?<![\w’'.&-])"
    before = re.compile(edge + r"(?:[A-Z][\w’'.&-]*\s+){1,3}" + re.escape(name) + r"(?![\w-])")
    after = re.compile(edge + re.escape(name) + r"((?:\s+[A-Z][\w’'&-]*){1,2})(?![\w-])")
    seen: set[tuple[str, int]] = set()
    for e in ev:
        text = e.sentence.text
        if (e.hit.source, e.sentence.start) in seen:
            continue
        seen.add((e.hit.source, e.sentence.start))
        found = []
        for m in before.finditer(text):
            words = m.group().split()
            titles = [i for i, w in enumerate(words) if w.lower().strip(".,") in _LEAD]
            if titles:  # "The Bankman-Fried trial", "FTX CEO Sam Bankman-Fried": titles are not the name
                words = words[titles[-1] + 1 :]
            found.append(" ".join(words))
        if not _headline_case(text):
            for m in after.finditer(text):
                words = []
                for w in m.group(1).split():
                    bare = w.strip(".,;:").removesuffix("’s").removesuffix("'s")
                    if w.lower().strip(".,") in _LEAD or _CALENDAR.fullmatch(bare):
                        break
                    words.append(bare)
                    if bare != w.strip(".,;:") or w.endswith((",", ";", ":")):
                        break  # "Caesars Sportsbook’s", "Britney Spears," end the name
                found.append(" ".join([name, *words]))
        for full in found:
            full = full.rstrip(".,;:").removesuffix("’s").removesuffix("'s")
            if full != name:
                counts[full] = counts.get(full, 0) + 1
    return max(counts, key=lambda f: (counts[f], -len(f)), default=name)


_LEAD = frozenset("the a an and but or so then when while after before as if in on at of for by with from to "
                  "former judge ceo president mr mrs ms dr said says told".split())


def same_answer(a: Span, b: Span) -> bool:
    """ "Bankman-Fried" and "Sam Bankman-Fried" name the same answer (one ends or starts the other);
    "Halls" and "Hutchins" do not, and a number or a date is only itself ("2" is not "2,000")."""
    if a.kind != b.kind:
        return False
    wa, wb = a.text.lower().split(), b.text.lower().split()
    if a.kind != "name":
        return wa == wb
    short, long_ = sorted((wa, wb), key=len)
    return long_[: len(short)] == short or long_[-len(short) :] == short
