"""Answering: a question travels one way — analysis → retrieval → reader → composer (or an LLM) — into an Answer.

Extractive by default, so nothing is invented: every sentence of an answer is a
quoted passage with its ``[n]``, and each citation names the file and its
publication date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .analysis import Question, analyse_question
from .answers import NO_DATES, REFUSAL, Answer, Citation, LLMConfig, Report
from .composer import compose, render, repeats
from .errors import InvalidQuery
from .checks import check_query, parse_day
from .reader import Reader
from .retrieval import Hit, Index, open_index
from .sentences import Evidence, Sentence, candidates, stems
from .settings import Settings
from .truecase import restore

__all__ = ["Answer", "Citation", "Report", "LLMConfig", "answer", "answer_stream", "REFUSAL", "gather"]

LLM_PASSAGES = 6  # passages numbered in the prompt: the best retrieved, copies removed
SEARCH_K = 12  # passages retrieved for the reader
SEARCH_K_COMPARE = 20  # a comparison names several reports: each needs its passages among them
NEIGHBOURS = (3, 8)  # the other chunks of the top 3 articles (up to 8 each) are read too
BEYOND_K = 3  # "latest"/"first": passages also read from the reports newer (older) than any retrieved
COPY = 0.7  # a passage this much of whose word 3-grams an earlier one holds repeats it (see composer.repeats)


def _check_history(history: object) -> list[tuple[str, str]]:
    """The conversation as (question, answer) string pairs; InvalidQuery naming ``history`` otherwise."""
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise InvalidQuery("history must be a list of (question, answer) pairs, e.g. [('Who ...?', 'He ...')]")
    out = []
    for n, turn in enumerate(history):
        if (not isinstance(turn, (tuple, list)) or len(turn) != 2
                or not all(isinstance(x, str) or x is None for x in turn)):
            raise InvalidQuery(f"history item {n} must be a (question, answer) pair of strings, got {turn!r:.80}")
        q, a = turn
        if q:
            out.append((check_query(q) if q.strip() else q, a or ""))
    return out


def _nothing_in_range(idx: Index, q: Question, base: Answer, filtered: bool) -> Answer:
    stats = idx.stats()
    window = f"between {q.since or 'the start'} and {q.until or 'today'}"
    if filtered:
        window += " among the chosen articles"
    cover = f" (the articles cover {stats['first_date']} to {stats['last_date']})" if stats["first_date"] else ""
    return dataclasses.replace(base, text=NO_DATES.format(window=window, cover=cover), refused=True)


def gather(idx: Index, q: Question, qvec: np.ndarray | None = None, *, sources=None,
           publishers=None) -> tuple[list[Hit], list[float], list[Hit]]:
    """The passages the reader reads: the best retrieved, then the other chunks of the top articles.

    ``qvec`` is the vector of ``q.search`` when the caller has it already.
    Returns (hits, rank of each, copies): a passage repeating an earlier, better one
    is not read again but is remembered as another report carrying it; one that reprints an earlier
    passage and goes on with news of its own is read.
    """
    k = SEARCH_K_COMPARE if q.compares else SEARCH_K
    qvec = idx.embedder.encode([q.search])[0] if qvec is None else qvec
    hits = idx.search(q.search, k=k, since=q.since, until=q.until, sources=sources, publishers=publishers, qvec=qvec)
    dates = [h.date for h in hits if h.date]
    if q.order in ("newest", "oldest") and dates:
        # "the latest news about Baldwin": the newest report may rank below older ones that resemble the
        # question more, so the best passages of the reports beyond every retrieved date are read too
        edge = max(dates) if q.order == "newest" else min(dates)
        if edge not in (dt.date.max, dt.date.min):  # a placeholder date (0001-01-01) has nothing beyond it
            day = dt.timedelta(days=1)
            since, until = (edge + day, q.until) if q.order == "newest" else (q.since, edge - day)
            if since is None or until is None or since <= until:
                hits = hits + idx.search(q.search, k=BEYOND_K, since=since, until=until, sources=sources,
                                         publishers=publishers, qvec=qvec)
    ranks = [float(i) for i in range(len(hits))]
    have = {h.chunk for h in hits}
    top = list(dict.fromkeys(h.source for h in hits))[: NEIGHBOURS[0]]
    extra: list[int] = []
    extra_rank: list[float] = []
    for src in top:  # chunk_ids: from the FAISS store's rows, or one indexed query to PostgreSQL
        first = next(r for h, r in zip(hits, ranks) if h.source == src)
        for c in idx.store.chunk_ids(src)[: NEIGHBOURS[1]]:
            if int(c) not in have:
                extra.append(int(c))
                extra_rank.append(first + 0.5)
    if extra:
        hits = hits + idx._hits(extra, {}, qvec)
        ranks = ranks + extra_rank
    kept, kept_ranks, copies = [], [], []
    for h, r in zip(hits, ranks):
        if any(repeats(h.text, o.text, COPY) for o in kept):
            copies.append(h)
        else:
            kept.append(h)
            kept_ranks.append(r)
    return kept, kept_ranks, copies


@functools.lru_cache(maxsize=1)
def _default_reader() -> Reader:
    return Reader.load()


def answer(question: str, *, history: Sequence[tuple[str, str]] = (), since: dt.date | str | None = None,
           until: dt.date | str | None = None, index: Path | str | Index | None = None,
           settings: Settings | None = None, llm: LLMConfig | None = None, today: dt.date | None = None,
           sources: Sequence[str] | None = None, publishers: Sequence[str] | None = None,
           reader: Reader | None = None) -> Answer:
    """Answer ``question`` from the articles: one to three quoted sentences, each cited with file and date.

    Extractive by default, so it cannot invent: every sentence of ``text`` is an
    exact quote followed by its ``[n]`` marker. When the articles do not hold what
    the question asks, it says so plainly, with no citations. ``history`` is the
    conversation so far as ``(question, answer)`` pairs, used to resolve
    follow-ups; ``since``/``until`` narrow the articles (so do the question's own
    words where they name when something was *published*: "reported in January
    2022", "articles from 2023"); ``today`` answers as of that day (later articles
    are not used; "this week" counts back from it); ``llm`` sends the passages to
    an OpenAI-compatible server instead (its reply is checked; any failure falls
    back to the extractive answer).

    >>> a = answer("Who handed Alec Baldwin the gun?")
    >>> a.citations[0].source, a.citations[0].date
    ('004_3895aaea98e54197.txt', datetime.date(2021, 12, 2))
    """
    final = None
    for final in answer_stream(question, history=history, since=since, until=until, index=index, settings=settings,
                               llm=llm, today=today, sources=sources, publishers=publishers, reader=reader):
        pass
    return final


def answer_stream(question: str, *, history: Sequence[tuple[str, str]] = (), since: dt.date | str | None = None,
                  until: dt.date | str | None = None, index: Path | str | Index | None = None,
                  settings: Settings | None = None, llm: LLMConfig | None = None, today: dt.date | None = None,
                  sources: Sequence[str] | None = None, publishers: Sequence[str] | None = None,
                  reader: Reader | None = None) -> Iterator[Answer]:
    """Like ``answer``, yielding growing partial Answers as the text arrives; the last one is final."""
    question = check_query(question)
    lo, hi = parse_day(since, "since"), parse_day(until, "until")
    if lo and hi and lo > hi:
        raise InvalidQuery(f"since ({lo}) is after until ({hi}): nothing can match")
    if today is not None and not isinstance(today, dt.date):
        raise InvalidQuery(f"today must be a date, got {today!r:.40}")
    turns = _check_history(history)
    settings = settings or Settings()
    idx = index if isinstance(index, Index) else open_index(index, settings)
    idx.refresh()
    idx = idx.snapshot()  # one generation for the whole answer
    reader = reader or _default_reader()
    q = analyse_question(restore(question, idx.store), history=turns, since=lo, until=hi, today=today,
                         matcher=idx.publishers, articles=idx.articles, stems=stems)
    base = Answer(question, "", False, (), None, q.resolved, q.since, q.until)
    filtered = bool(sources or publishers)
    if q.empty:
        yield _nothing_in_range(idx, q, base, filtered)
        return
    allowed = idx.allowed(q.since, q.until, sources, publishers)
    if allowed is not None and len(allowed) == 0:
        yield _nothing_in_range(idx, q, base, filtered)
        return
    qvec = idx.embedder.encode([q.search])[0]
    hits, ranks, copies = gather(idx, q, qvec, sources=sources, publishers=publishers)
    sentences = candidates(hits, ranks)
    ev = reader.read(idx, q, sentences, qvec)
    if not ev or (not (q.generic and q.window_from_words) and reader.refuse(idx, q, ev, hits)):
        yield dataclasses.replace(base, text=REFUSAL, refused=True)
        return
    carriers = ev + [Evidence(Sentence(c.text, c.start, c.end, c.hit, 99.0), 0.0, 0.0)
                     for c in candidates(copies)]
    picks = compose(idx, q, ev, reader.thresholds, carriers=carriers, context=sentences)
    text, cites = render(picks, span_floor=reader.thresholds.get("span_show", reader.thresholds.get("span", 0.5)),
                         when=q.answer_type == "time")
    extractive = dataclasses.replace(base, text=text, citations=cites)
    if llm is None and settings.llm_url and settings.llm_model:
        llm = LLMConfig(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout)
    if llm is None:
        yield extractive
        return
    from .generation import generate_stream

    yield from generate_stream(question, hits[:LLM_PASSAGES], llm, fallback=extractive)
