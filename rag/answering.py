"""Answering: short answers whose every sentence is a quoted, cited passage with file and date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Answer", "Citation", "Report", "LLMConfig", "answer", "answer_stream", "REFUSAL"]

REFUSAL = "The articles don't cover this."


@dataclass(frozen=True)
class Report:
    """Another article carrying the same (or nearly the same) passage."""

    source: str
    date: dt.date | None
    title: str = ""
    start: int = -1
    end: int = -1

    def to_dict(self) -> dict:
        return {"source": self.source, "date": self.date.isoformat() if self.date else None}


@dataclass(frozen=True)
class Citation:
    """Evidence ``[n]``: the exact quote, where it sits in which article, and when that was published.

    ``quote == article.text[start:end]``; ``also_in`` lists other articles
    carrying the same passage, earliest first.
    """

    n: int
    source: str
    date: dt.date | None
    title: str
    quote: str
    start: int
    end: int
    score: float
    also_in: tuple[Report, ...] = ()
    publisher: str | None = None
    url: str | None = None
    passage: str = ""  # the surrounding chunk, for showing the quote in context
    passage_start: int = -1

    def to_dict(self) -> dict:
        return {
            "n": self.n, "source": self.source, "date": self.date.isoformat() if self.date else None,
            "title": self.title, "quote": self.quote, "start": self.start, "end": self.end,
            "score": round(float(self.score), 4), "also_in": [r.to_dict() for r in self.also_in],
        }


@dataclass(frozen=True)
class Answer:
    """An answer: text with ``[n]`` markers, and the citations those markers point to."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    notice: str | None = None  # e.g. "the LLM server failed; this is the extractive answer"
    resolved_question: str | None = None  # the follow-up as rewritten against the conversation
    since: dt.date | None = None
    until: dt.date | None = None

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answer": self.text, "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations], "notice": self.notice,
        }

    def to_text(self) -> str:
        """The answer with its sources spelled out, for copying elsewhere."""
        lines = [self.text]
        if self.citations:
            lines.append("")
            lines.append("Sources:")
            for c in self.citations:
                also = "".join(f"; also {r.source} ({r.date or 'date unknown'})" for r in c.also_in)
                lines.append(f"[{c.n}] {c.source} ({c.date or 'date unknown'}) — {c.title}: “{c.quote}”{also}")
        return "\n".join(lines)


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible chat-completions server (Ollama, llama.cpp, vLLM, LM Studio, OpenAI)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0


# -- the extractive answerer ------------------------------------------------------------------
import functools  # noqa: E402
from dataclasses import replace as _replace  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import unicodedata  # noqa: E402

import numpy as np  # noqa: E402

from .chunking import split_sentences  # noqa: E402
from .dates import DateIntent, parse_question_dates  # noqa: E402
from .errors import InvalidQuery  # noqa: E402
from .retrieval import Hit, Index, check_query, open_index, parse_day  # noqa: E402
from .settings import Settings  # noqa: E402

# Calibrated on tests/questions.jsonl (see the closing note of "Cited answers"):
EXTRA_MARGIN = 0.1  # a second or third sentence must score within this of the best
LLM_PASSAGES = 6  # passages numbered in the prompt: the best retrieved, copies removed
OVERLAP_WEIGHT = 0.25  # weight of the rarity-weighted share of question words a sentence contains
NO_DATES = "Nothing in this date range: no article published {window} is in the index{cover}."
_WORD = re.compile(r"[0-9A-Za-z]+(?:['’][A-Za-z]+)?")
_STOP = frozenset(
    "a an the and or but if of to in on at by for with from about as into over after before since until is are was "
    "were be been being do does did doing have has had having i me my we our you your he him his she her it its they "
    "them their this that these those there here what which who whom whose when where why how not no nor so than too "
    "very can could will would shall should may might must just also any all some such only own same other more most "
    "say said says tell told according article articles report reported news".split()
)
_NAME = re.compile(r"\b[A-Z][a-z’']+(?:\s+[A-Z][a-z’']+)*")
_FOLLOWUP = re.compile(
    r"\b(he|she|it|they|him|her|his|hers|its|their|them|this|that|these|those|the same|then)\b|^\s*(and|what about|how about|why|so)\b",
    re.IGNORECASE,
)
_WHEN = re.compile(r"\b(19|20)\d\d\b|\b(January|February|March|April|May|June|July|August|September|October|November|"
                   r"December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|ago|earlier|later)\b")
_HEDGE = re.compile(
    r"\b(?:did not|didn['’]t|does not|doesn['’]t|would not|wouldn['’]t|declined to|refused to|could not|couldn['’]t)"
    r"\s+(?:confirm|say|know|reveal|disclose|comment|specify)|\bunclear\b|\bwhether\b|\bunconfirmed\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\b\d+\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand|million)\b", re.I)


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def _content(text: str) -> list[str]:
    return [w for w in (m.group().lower().replace("’", "'") for m in _WORD.finditer(text)) if w not in _STOP]


def _stems(text: str) -> set[str]:
    return set(_stemmer().stemWords(_content(text)))


def _norm(text: str) -> str:
    """Text folded for copy detection: case, quotes, dashes and spacing don't count."""
    t = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_WORD.findall(t.replace("’", "'")))


def _shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    w = _norm(text).split()
    return {tuple(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}


def near_copies(a: str, b: str, threshold: float = 0.8) -> bool:
    """True when two passages are the same text or nearly (word 3-gram overlap)."""
    na, nb = _norm(a), _norm(b)
    if na == nb or (len(na) > 40 and (na in nb or nb in na)):
        return True
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) / max(1, min(len(sa), len(sb))) >= threshold


@dataclass(frozen=True)
class _Candidate:
    text: str
    start: int
    end: int
    hit: Hit
    dense: float
    overlap: float
    score: float
    lede: bool


def resolve_followup(question: str, history: Sequence[tuple[str, str]]) -> str:
    """Make a follow-up self-contained by carrying the names and topic words of the last turn.

    "What did his lawyer say about it?" after "Who handed Alec Baldwin the gun?"
    becomes "What did his lawyer say about it? (Alec Baldwin handed gun)".
    """
    if not history:
        return question
    prev_q, prev_a = history[-1]
    q_words = set(_content(question))
    if not _FOLLOWUP.search(question) and len(q_words) >= 4:
        return question
    names = [n for n in _NAME.findall(prev_q) if n.lower() not in _STOP and n.lower() not in q_words]
    answer_first = re.split(r"(?<=[.!?])\s", re.sub(r"\[\d+\]", "", prev_a or ""), maxsplit=1)[0]
    names += [n for n in _NAME.findall(answer_first)[:3] if n.lower() not in _STOP]
    topic = [w for w in _content(prev_q) if w not in q_words and not any(w in n.lower() for n in names)]
    extra = list(dict.fromkeys(names + topic))
    return f"{question} ({' '.join(extra)})" if extra else question


def _strip_spans(question: str, spans: Sequence[tuple[int, int]]) -> str:
    out, last = [], 0
    for a, b in spans:
        out.append(question[last:a])
        last = b
    out.append(question[last:])
    return re.sub(r"\s+", " ", "".join(out)).strip(" ,;:-–—")


def _event_date(idx: Index, intent: DateIntent) -> dt.date | None:
    """When the event in "since the charges" happened: the first article whose headline or lede reports it."""
    stems = _stems(intent.event or "")
    if not stems:
        return None
    dated = []
    for a in idx.articles:
        lede = a.text[: a.text.find("\n", len(a.title) + 2) if "\n" in a.text[len(a.title) + 2 :] else len(a.text)]
        if a.date and stems <= _stems(a.title + " " + lede[:400]):
            dated.append(a.date)
    return min(dated) if dated else None


def _window(intent: DateIntent, since, until, idx: Index) -> tuple[dt.date | None, dt.date | None]:
    lo, hi = parse_day(since, "since"), parse_day(until, "until")
    q_lo, q_hi = intent.since, intent.until
    if intent.event:
        when = _event_date(idx, intent)
        if when and intent.event_side == "after":
            q_lo = when
        elif when:
            q_hi = when - dt.timedelta(days=1)
    lo = max(d for d in (lo, q_lo) if d) if (lo or q_lo) else None
    hi = min(d for d in (hi, q_hi) if d) if (hi or q_hi) else None
    return lo, hi




def _encode(idx: Index, texts: list[str]) -> np.ndarray:
    """Sentence vectors, remembered across questions (the same passages come back often)."""
    cache = _vector_cache(id(idx.embedder))
    missing = [t for t in dict.fromkeys(texts) if t not in cache]
    if missing:
        for t, v in zip(missing, idx.embedder.encode(missing, batch_size=64)):
            cache[t] = v
        while len(cache) > 50_000:
            cache.pop(next(iter(cache)))
    return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, idx.embedder.dimension), np.float32)


@functools.lru_cache(maxsize=8)
def _vector_cache(_embedder_id: int) -> dict[str, np.ndarray]:
    return {}


def _candidates(idx: Index, question: str, hits: Sequence[Hit], qvec: np.ndarray) -> list[_Candidate]:
    q_stems = _stems(question)
    wh = question.strip().split(" ", 1)[0].lower()
    q_names = {n.lower() for n in _NAME.findall(question)}
    q_names |= {w.lower() for w in question.split() if w[:1].isupper()}
    spans: list[tuple[str, int, int, Hit, bool]] = []
    for h in hits:
        for s, e in _quote_sentences(h.text):
            text = h.text[s:e]
            if len(_WORD.findall(text)) < 4:
                continue
            spans.append((text, h.start + s, h.start + e, h, h.start + s < 400))
    if not spans:
        return []
    vecs = _encode(idx, [t for t, *_ in spans])
    dense = vecs @ qvec
    sent_stems = [_stems(t) for t, *_ in spans]
    # a question word found in nearly every candidate (the story's own names) says little about which
    # sentence answers; weight each by its rarity among the candidates
    idf = {w: math.log((len(spans) + 1) / (sum(w in st for st in sent_stems) + 1)) + 1 for w in q_stems}
    total = sum(idf.values()) or 1.0
    if wh == "what" and len(question.split()) > 1 and question.split()[1].lower() not in _AUX:
        wh = "which"  # "What gun ..." asks for a thing by name, like "Which gun ..."
    words = question.split()
    asked_for = _stemmer().stemWord(re.sub(r"\W", "", words[1]).lower()) if wh == "which" and len(words) > 1 else None
    yes_no = wh in _AUX
    # question words that some candidates have and most lack: what a yes/no question is really about
    counts = {w: sum(w in st for st in sent_stems) for w in q_stems}
    commonest = max(counts.values(), default=0)
    telling = {w for w, n in counts.items() if 0 < n <= 0.5 * commonest}
    out = []
    for (text, s, e, h, lede), d, st in zip(spans, dense, sent_stems):
        overlap = sum(idf[w] for w in q_stems & st) / total
        bonus = 0.0
        if wh in ("who", "whom", "whose") and any(n.lower() not in q_names and n.lower() not in _STOP
                                                  for n in _NAME.findall(text[1:])):
            bonus = 0.05
        elif wh == "when" and _WHEN.search(text):
            bonus = 0.05
        elif question.lower().startswith(("how many", "how much", "how old")) and _NUMBER.search(text):
            bonus = 0.05
        if wh in ("who", "whom", "whose", "where", "which"):
            if _fills_slot(question, text, wh, q_names):
                bonus += 0.2 if wh != "which" else 0.15
            elif wh == "which" and asked_for in st:
                bonus -= 0.1  # "the film" where the question asks which film: a mention, not the answer
        if yes_no and telling and not telling & st:
            bonus -= 0.2  # "Did he expect to be charged?" is answered by a sentence about charges
        if _HEDGE.search(text):
            bonus -= 0.08  # "did not confirm if ..." mentions the fact without stating it
        novelty = len(st - q_stems) / max(1, len(st))
        score = float(d) + OVERLAP_WEIGHT * overlap + bonus - (0.1 if novelty < 0.3 else 0.0)
        out.append(_Candidate(text, s, e, h, float(d), overlap, score, lede))
    return out


def _quote_sentences(text: str) -> list[tuple[int, int]]:
    """Sentences, with a quotation that runs on past a full stop kept whole (up to three sentences)."""
    spans = split_sentences(text)
    out, i = [], 0
    while i < len(spans):
        s, e = spans[i]
        j = i
        while (text[s:e].count("“") > text[s:e].count("”") and j + 1 < len(spans) and j - i < 2
               and "\n" not in text[e : spans[j + 1][0]]):
            j += 1
            e = spans[j][1]
        out.append((s, e))
        i = j + 1
    return out


_AUX = frozenset("is was are were did does do has have had will would can could should may might".split())
_PLACE_PREP = frozenset("in at below above under near behind inside outside into onto toward towards beside "
                        "across through over".split())


def _fills_slot(question: str, sentence: str, wh: str, q_names: set[str]) -> bool:
    """Does the sentence put what the question asks for right beside a question word?

    who: a full name ("Dave Halls handed him", "Halls' attorney Lisa Torraco");
    which/what: a name or title ("the set of Rust"); where: a place phrase
    ("aimed right below her armpit"). A sentence that fills the slot states the
    fact; one that only repeats the question's words does not.
    """
    q_name_words = {w for n in q_names for w in n.split()}
    anchors = _stems(question) - set(_stemmer().stemWords(list(q_name_words)))
    toks = sentence.split()
    stems = [_stemmer().stemWord(re.sub(r"\W", "", t).lower()) for t in toks]
    for i, st in enumerate(stems):
        if st not in anchors:
            continue
        after = toks[i + 1 : i + 4]
        if wh == "where":
            if any(re.sub(r"\W", "", t).lower() in _PLACE_PREP for t in after):
                return True
            continue
        for span in (" ".join(toks[max(0, i - 3) : i]), " ".join(after)):
            for n in _NAME.findall(span):
                words = [w for w in n.lower().split() if w not in _STOP and w not in _MONTH_WORDS
                         and w not in q_name_words and w not in ("in", "on", "at", "the", "a")]
                if len(words) >= (2 if wh in ("who", "whom", "whose") else 1):
                    return True
    return False


_MONTH_WORDS = frozenset("january february march april may june july august september october november december "
                         "monday tuesday wednesday thursday friday saturday sunday".split())


def _collapse(idx: Index, cand: _Candidate, pool: Sequence[_Candidate]) -> tuple[_Candidate, tuple[Report, ...]]:
    """The earliest article carrying this passage as the citation, the other carriers as also_in."""
    carriers: dict[str, Report] = {}
    needle = _norm(cand.text)
    for a in idx.articles:
        if a.source == cand.hit.source:
            continue
        if len(needle) > 30 and needle in _norm_article(idx, a.source):
            carriers[a.source] = Report(a.source, a.date, a.title)
    for c in pool:
        if c.hit.source != cand.hit.source and c.hit.source not in carriers and near_copies(c.text, cand.text):
            carriers[c.hit.source] = Report(c.hit.source, c.hit.date, c.hit.title, c.start, c.end)
    key = lambda r: (r.date or dt.date.max, r.source)  # noqa: E731
    reports = sorted(carriers.values(), key=key)
    # cite the earliest report; list the rest, earliest first
    if reports and key(reports[0]) < (cand.hit.date or dt.date.max, cand.hit.source):
        first = next((c for c in pool if c.hit.source == reports[0].source and near_copies(c.text, cand.text)), None)
        if first is not None:
            me = Report(cand.hit.source, cand.hit.date, cand.hit.title, cand.start, cand.end)
            return first, tuple(sorted([me] + [r for r in reports if r.source != first.hit.source], key=key))
    return cand, tuple(reports)


def _norm_article(idx: Index, source: str) -> str:
    cache = _vector_cache(id(idx.store))
    key = "\x00norm:" + source
    if key not in cache:
        cache[key] = _norm(idx.store.article_by_source(source).text)
    return cache[key]


def _compose(idx: Index, question: str, intent: DateIntent, cands: list[_Candidate], refuse_below: float,
             generic: bool = False, carriers: Sequence[_Candidate] = ()) -> list[tuple[_Candidate, tuple[Report, ...]]]:
    """Pick one to three sentences: the best, anything close to it that adds something, and newer updates."""
    ranked = sorted(cands, key=lambda c: -c.score)
    best = ranked[0]
    relevant = [c for c in ranked if c.dense >= refuse_below and c.score >= best.score - EXTRA_MARGIN]
    if intent.order in ("newest", "oldest"):
        pool = [c for c in ranked if c.dense >= refuse_below * 0.6] or ranked
        pick = max if intent.order == "newest" else min
        target = pick((c.hit.date for c in pool if c.hit.date), default=None)
        if target:
            from_target = [c for c in pool if c.hit.date == target]
            if generic:
                # "the latest on the case": the newest report's opening sentence says what it is about
                best = min((c for c in cands if c.hit.date == target), key=lambda c: c.start)
                return [_collapse(idx, best, carriers or cands)]
            best = max(from_target, key=lambda c: c.score + (0.1 if c.lede else 0))
            relevant = [best] + [c for c in from_target if c is not best and c.score >= best.score - 0.05]
    chosen: list[_Candidate] = [best]
    for c in relevant:
        if len(chosen) >= 3:
            break
        restated = _encode(idx, [x.text for x in chosen]) @ _encode(idx, [c.text])[0]
        if max(restated) >= 0.85 or any(c.hit.source == x.hit.source and abs(c.start - x.start) < 5 for x in chosen):
            continue  # says again what is already chosen
        chosen.append(c)
    # a newer report on the same point is shown too, so an old claim never stands alone: same topic
    # (similar, but not a restatement), relevant to the question, ledes first (that is where news updates)
    newest = max((c.hit.date for c in chosen if c.hit.date), default=None)
    if newest and intent.order is None:
        anchor = _encode(idx, [best.text])[0]
        # a report within the same week is the same news cycle, not an update
        newer = [c for c in ranked if c.hit.date and c.hit.date >= newest + dt.timedelta(days=7) and c.dense >= refuse_below
                 and c.score >= best.score - 0.15]
        sims = _encode(idx, [c.text for c in newer]) @ anchor if newer else []
        updates = sorted((c for c, sim in zip(newer, sims) if 0.3 <= sim < 0.85),
                         key=lambda c: -(c.score + (0.1 if c.lede else 0.0)))
        if updates:
            if len(chosen) >= 3:
                chosen.pop()
            chosen.append(updates[0])
    collapsed = []
    seen: set[tuple[str, int]] = set()
    for c in chosen:
        cc, also = _collapse(idx, c, carriers or cands)
        if (cc.hit.source, cc.start) in seen:
            continue
        seen.add((cc.hit.source, cc.start))
        collapsed.append((cc, also))
    return collapsed


def _render(picked: list[tuple[_Candidate, tuple[Report, ...]]]) -> tuple[str, tuple[Citation, ...]]:
    dates = {c.hit.date for c, _ in picked}
    by_date = len(dates) > 1
    if by_date:  # oldest report first; within a day, the best sentence first
        rank = {id(p[0]): i for i, p in enumerate(picked)}
        picked = sorted(picked, key=lambda p: (p[0].hit.date or dt.date.min, rank[id(p[0])]))
    parts, cites = [], []
    for n, (c, also) in enumerate(picked, start=1):
        h = c.hit
        label = ""
        if by_date:
            label = (f"Latest, {h.date}: " if n == len(picked) and h.date else f"{h.date or 'Undated'}: ")
        parts.append(f"{label}{c.text} [{n}]")
        cites.append(Citation(n, h.source, h.date, h.title, c.text, c.start, c.end, round(c.score, 4), also,
                              h.publisher, h.url, h.text, h.start))
    # dated evidence reads as a short chronology, one report per line
    return ("\n" if by_date else " ").join(parts), tuple(cites)


def answer(question: str, *, history: Sequence[tuple[str, str]] = (), since: dt.date | str | None = None,
           until: dt.date | str | None = None, index: Path | str | None = None, settings: Settings | None = None,
           llm: LLMConfig | None = None, today: dt.date | None = None, sources: Sequence[str] | None = None,
           publishers: Sequence[str] | None = None) -> Answer:
    """Answer ``question`` from the articles: one to three quoted sentences, each cited with file and date.

    Extractive by default, so it cannot invent: every sentence of ``text`` is an
    exact quote followed by its ``[n]`` marker. When nothing relevant is found it
    refuses plainly, with no citations. ``history`` is the conversation so far as
    ``(question, answer)`` pairs, used to resolve follow-ups; ``since``/``until``
    narrow the articles; ``llm`` sends the passages to an OpenAI-compatible server
    instead (its reply is checked; any failure falls back to the extractive answer).

    >>> a = answer("Who handed Alec Baldwin the gun?")
    >>> a.citations[0].source, a.citations[0].date
    ('004_3895aaea98e54197.txt', datetime.date(2021, 12, 2))
    """
    final = None
    for final in answer_stream(question, history=history, since=since, until=until, index=index, settings=settings,
                               llm=llm, today=today, sources=sources, publishers=publishers):
        pass
    return final


def answer_stream(question: str, *, history: Sequence[tuple[str, str]] = (), since: dt.date | str | None = None,
                  until: dt.date | str | None = None, index: Path | str | Index | None = None,
                  settings: Settings | None = None, llm: LLMConfig | None = None, today: dt.date | None = None,
                  sources: Sequence[str] | None = None, publishers: Sequence[str] | None = None) -> Iterator[Answer]:
    """Like ``answer``, yielding growing partial Answers as the text arrives; the last one is final."""
    question = check_query(question)
    parse_day(since, "since"), parse_day(until, "until")
    settings = settings or Settings()
    idx = index if isinstance(index, Index) else open_index(index, settings)
    idx.refresh()
    resolved = resolve_followup(question, [(q, a) for q, a in history if q])
    intent = parse_question_dates(question, today=today)
    lo, hi = _window(intent, since, until, idx)
    if lo and hi and lo > hi:
        raise InvalidQuery(f"the date range {lo} to {hi} is empty: check since/until")
    base = Answer(question, "", False, (), None, resolved if resolved != question else None, lo, hi)
    allowed = idx.allowed(lo, hi, sources, publishers)
    if allowed is not None and len(allowed) == 0:
        stats = idx.stats()
        window = f"between {lo or 'the start'} and {hi or 'today'}"
        if sources or publishers:
            window += " among the chosen articles"
        cover = f" (the articles cover {stats['first_date']} to {stats['last_date']})" if stats["first_date"] else ""
        yield _replace(base, text=NO_DATES.format(window=window, cover=cover), refused=True)
        return
    search_q = _strip_spans(resolved, intent.spans) if intent.spans else resolved
    if not _content(search_q):
        search_q = resolved
    hits = idx.search(search_q, k=12, since=lo, until=hi, sources=sources, publishers=publishers)
    hits, copies = _dedupe_hits(_with_neighbours(idx, hits, search_q))
    qvec = idx.embedder.encode([search_q])[0]
    cands = _candidates(idx, search_q, hits, qvec)
    generic = len(_content(search_q)) <= 1 and not intent.is_empty
    if generic and intent.order is None:
        intent = _replace(intent, order="newest")  # "what has happened since X": the newest reports
    threshold = settings.refuse_below * (0.5 if generic else 1.0)
    if not _content(_strip_spans(resolved, intent.spans)) and not intent.is_empty:
        threshold = -1.0  # "what was reported in 2023?": the window itself is the question
    if not cands or max(c.dense for c in cands) < threshold:
        yield _replace(base, text=REFUSAL, refused=True)
        return
    carriers = cands + [_Candidate(h.text[a:b], h.start + a, h.start + b, h, 0.0, 0.0, 0.0, False)
                        for h in copies for a, b in _quote_sentences(h.text)]
    picked = _compose(idx, search_q, intent, cands, threshold, generic, carriers)
    text, cites = _render(picked)
    extractive = _replace(base, text=text, citations=cites)
    if llm is None and settings.llm_url and settings.llm_model:
        llm = LLMConfig(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout)
    if llm is None:
        yield extractive
        return
    from .generation import generate_stream

    yield from generate_stream(question, hits[:LLM_PASSAGES], llm, fallback=extractive)


def _with_neighbours(idx: Index, hits: Sequence[Hit], query: str, articles: int = 3, per_article: int = 8) -> list[Hit]:
    """The hits plus the other chunks of the top articles: the stating sentence may sit in a chunk
    that retrieval's per-article cap left out."""
    have = {h.chunk for h in hits}
    top = list(dict.fromkeys(h.source for h in hits))[:articles]
    rows = idx.store.rows
    extra = []
    for src in top:
        ai = next(i for i, a in enumerate(idx.store.articles) if a.source == src)
        extra += [int(c) for c in np.flatnonzero(rows[:, 0] == ai)[:per_article] if int(c) not in have]
    if not extra:
        return list(hits)
    qvec = idx.embedder.encode([query])[0]
    return list(hits) + idx._hits(extra, {}, qvec)


def _dedupe_hits(hits: Sequence[Hit]) -> tuple[list[Hit], list[Hit]]:
    """(kept, copies): a passage repeating an earlier, better one (the same interview quoted by several
    outlets) is not a candidate again, but is remembered as another report carrying it."""
    out: list[Hit] = []
    copies: list[Hit] = []
    for h in hits:
        (copies if any(near_copies(h.text, o.text, 0.7) for o in out) else out).append(h)
    return out, copies


