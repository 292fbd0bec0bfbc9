"""Capitals for a question typed without them, learned from how the archive writes each word.

Names, publishers and the parts of a comparison are found by their capitals
("Did TechCrunch and The Verge agree ...?"). Typed in lower case ("did techcrunch
and the verge agree ...?") the question would lose all three, and with them the
search per publisher and the check that the evidence names who is asked about.
So a question with no capital after its first letter (or in capitals only, which
tells names apart no better) gets back the capitals the archive itself uses: a
word or run of words is restored when the articles write it capitalised in
mid-sentence more often than in lower case ("baldwin" →
"Baldwin", "new mexico" → "New Mexico", "techcrunch" → "TechCrunch"), and a
publisher's name when the articles do not use it more often as ordinary words
("the verge" stays lower case in an archive that writes "on the verge of" more
than "The Verge"). Nothing is hand-listed; a question that has capitals is left
exactly as typed.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from .cache import per_store

__all__ = ["learn_cases", "truecase", "case_table", "is_uncased", "restore"]

#: Characters of article text read to learn the table: an even sample of a larger archive (a few seconds).
SAMPLE_CHARS = 20_000_000
#: The longest run of capitalised words kept as one name ("Federal Bureau of Investigation" is four).
MAX_WORDS = 4

_WORD = re.compile(r"[^\W\d_][\w’'&-]*")
_POSSESSIVE = re.compile(r"['’]s?$")
_OPENS = frozenset(".!?:;\n“\"‘(")  # a capital after these may only open a sentence or a quote


def _mid_sentence(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i >= 0 and text[i] not in _OPENS


def learn_cases(texts: Iterable[str], publishers: Iterable[str] = ()) -> dict[str, str]:
    """Lower-case word or phrase → the capitalised form the texts use for it, where capitals are the rule.

    >>> t = learn_cases(["Reports say Alec Baldwin met Baldwin fans in New Mexico.",
    ...                  "Later Alec Baldwin flew to New Mexico, a fan said."])
    >>> t["baldwin"], t["new mexico"], "fans" in t, "later" in t
    ('Baldwin', 'New Mexico', False, False)
    """
    capped: dict[str, Counter] = defaultdict(Counter)
    lowered: Counter = Counter()
    runs: dict[str, Counter] = defaultdict(Counter)
    corpus: list[str] = []
    for text in texts:
        corpus.append(text)
        run: list[re.Match] = []
        for m in _WORD.finditer(text):
            w = m.group()
            inside = _mid_sentence(text, m.start())
            w = _POSSESSIVE.sub("", w)
            if w[:1].isupper() and inside:
                capped[w.lower()][w] += 1
                if run and text[run[-1].end() : m.start()] != " ":
                    _count_run(run, text, runs)
                    run = []
                run.append(m)
                continue
            if inside or not w[:1].isupper():
                lowered[w.lower()] += 1
            _count_run(run, text, runs)  # a capital that opens a sentence starts no name: it may be "The" or "On"
            run = []
        _count_run(run, text, runs)
    table = {w: forms.most_common(1)[0][0] for w, forms in capped.items()
             if sum(forms.values()) >= 2 and sum(forms.values()) > lowered[w]}
    for phrase, forms in runs.items():
        if sum(forms.values()) >= 2 and any(w in table for w in phrase.split()):
            table[phrase] = forms.most_common(1)[0][0]
    joined = "\n".join(corpus)
    lower = joined.lower()
    for p in {" ".join(p.split()) for p in publishers if p and p.strip()}:
        if p.lower() not in table and lower.count(p.lower()) - joined.count(p) <= joined.count(p):
            table[p.lower()] = p
    return table


def _count_run(run: Sequence[re.Match], text: str, runs: dict[str, Counter]) -> None:
    if 2 <= len(run) <= MAX_WORDS:
        phrase = _POSSESSIVE.sub("", text[run[0].start() : run[-1].end()])
        runs[phrase.lower()][phrase] += 1


def is_uncased(question: str) -> bool:
    """Typed without telling names apart: no capital after the first letter, or nothing but capitals."""
    letters = [c for c in question if c.isalpha() and c.lower() != c.upper()]
    return len(letters) > 1 and (not any(c.isupper() for c in letters[1:]) or not any(c.islower() for c in letters))


def truecase(question: str, table: dict[str, str]) -> str:
    """``question`` with the archive's capitals restored, if it was typed without any; else unchanged.

    >>> truecase("who met alec baldwin in new mexico?", {"alec baldwin": "Alec Baldwin", "new mexico": "New Mexico",
    ...                                                  "baldwin": "Baldwin"})
    'who met Alec Baldwin in New Mexico?'
    """
    if not table or not is_uncased(question):
        return question
    if not any(c.islower() for c in question):  # "WHO HANDED ALEC BALDWIN THE GUN?": every word looks like a name
        question = question.lower()
    words = list(_WORD.finditer(question))
    out, last, i = [], 0, 0
    while i < len(words):
        for n in range(min(MAX_WORDS, len(words) - i), 0, -1):
            run = words[i : i + n]
            if any(question[a.end() : b.start()] != " " for a, b in zip(run, run[1:])):
                continue
            end = run[-1].end()
            span = _POSSESSIVE.sub("", question[run[0].start() : end])  # "baldwin's": Baldwin's
            cased = table.get(span.lower())
            if cased is not None:
                out += [question[last : run[0].start()], cased, question[run[0].start() + len(span) : end]]
                last, i = end, i + n
                break
        else:
            i += 1
    return "".join(out) + question[last:]


@per_store
def case_table(store) -> dict[str, str]:
    """The table learned from ``store``'s articles (an even sample of ``SAMPLE_CHARS``), once per generation."""
    articles = store.articles
    total = sum(len(a.text) for a in articles)
    step = max(1, -(-total // SAMPLE_CHARS))
    return learn_cases((a.text for a in articles[::step]), (a.publisher for a in articles if a.publisher))


def restore(question: str, store) -> str:
    """``question`` with capitals from ``store``'s archive if it was typed without any (the table is learned
    only then)."""
    return truecase(question, case_table(store)) if is_uncased(question) else question
