"""Cited answers with the real model on seeds/: facts, refusals, copies, dates, updates, follow-ups."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys

import pytest

from rag import REFUSAL, Index, InvalidQuery, Settings, answer
from rag.composer import near_copies
from tests.conftest import GUN, ROOT, SEEDS

TODAY = dt.date(2026, 11, 21)


@pytest.fixture(scope="module")
def idx(seed_index, real_embedder):
    return Index.open(seed_index, embedder=real_embedder, settings=Settings(index=seed_index))


def _article_text(source: str) -> str:
    from rag import load_corpus

    return next(a.text for a in load_corpus([SEEDS]).articles if a.source == source)


def _ask(idx, q, **kw):
    return answer(q, index=idx, settings=idx.settings, today=TODAY, **kw)


def test_who_question_is_answered_from_the_interview_with_its_date(idx):
    a = _ask(idx, "Who handed Alec Baldwin the gun?")
    assert not a.refused and "Halls" in a.text
    c = a.citations[0]
    assert (c.n, c.source, c.date) == (1, GUN, dt.date(2021, 12, 2))
    assert _article_text(GUN)[c.start : c.end] == c.quote and c.quote in a.text
    d = a.to_dict()
    assert d["citations"][0]["date"] == "2021-12-02" and d["refused"] is False
    json.dumps(d)


def test_a_short_answer_is_marked_by_offsets_into_the_article(idx):
    a = _ask(idx, "What crime was Baldwin charged with?")
    marked = [c for c in a.citations if c.answer_span]
    for c in marked:
        assert _article_text(c.source)[c.answer_start : c.answer_end] == c.answer_span
        assert c.start <= c.answer_start < c.answer_end <= c.end
        assert c.to_dict()["answer"]["text"] == c.answer_span


def test_every_sentence_is_a_quote_with_a_marker(idx):
    for q in ["Did Baldwin pull the trigger?", "Will Baldwin face criminal charges?", "Who was wounded in the shooting?"]:
        a = _ask(idx, q)
        assert a.citations
        for c in a.citations:
            assert f"{c.quote} [{c.n}]" in a.text
            assert _article_text(c.source)[c.start : c.end] == c.quote


@pytest.mark.parametrize("q", ["What is the capital of France?", "How do I bake bread?", "Who won the 2018 FIFA World Cup?"])
def test_out_of_corpus_questions_are_refused_plainly(idx, q):
    a = _ask(idx, q)
    assert a.refused and a.citations == ()
    # "2018" names a year no article is from: that is said as plainly
    assert a.text == REFUSAL or a.text.startswith("Nothing in this date range")


def test_copies_collapse_into_one_citation_listing_every_carrier(idx):
    a = _ask(idx, "Did Baldwin say he would never point a gun at anyone?")
    c = a.citations[0]
    carriers = [(c.source, c.date)] + [(r.source, r.date) for r in c.also_in]
    # the interview line stands in 004 (Dec 2) and, copied, in 000, 001 and 002
    assert {s for s, _ in carriers} >= {GUN, "000_e92e8a6dc09ab106.txt", "002_5b34f11284f4eebe.txt"}
    assert c.source == GUN, "the earliest report is the one cited"
    assert [d for _, d in carriers[1:]] == sorted(d for _, d in carriers[1:]), "also reported in: earliest first"
    # the copies are one citation: no other quote of the answer repeats the line
    assert not any(near_copies(x.quote, y.quote) for x, y in itertools.combinations(a.citations, 2))
    for r in c.also_in:
        assert r.date == next(x.date for x in idx.articles if x.source == r.source)


def test_near_copies():
    a = "“I cock the gun. I go, ‘Can you see that?’ And then I let go of the hammer,” he recalled."
    assert near_copies(a, a.replace("“", '"').replace("”", '"').upper())
    assert near_copies(a, "He said: " + a)
    assert not near_copies(a, "Alec Baldwin has been charged with involuntary manslaughter.")


@pytest.mark.parametrize("q", [
    "What is the latest on the case?",
    # "news" matches an older report's "The news comes after ...", and the newest report reprints older
    # passages before its own news: it is still the one the latest answer comes from
    "What is the latest news about Baldwin?",
    # typed without capitals: the archive's "Baldwin" comes back, so the newest report naming him is found
    "what is the latest news about baldwin?",
    "WHAT IS THE LATEST NEWS ABOUT BALDWIN?",  # capitals only tell names apart no better
])
def test_latest_answers_from_the_newest_relevant_article(idx, q):
    a = _ask(idx, q)
    assert a.citations and {c.date for c in a.citations} == {dt.date(2023, 1, 31)}
    assert "charged" in a.text


def test_a_passage_that_reprints_an_older_one_and_goes_on_is_not_a_mere_copy():
    from rag.answering import COPY
    from rag.composer import repeats

    old = "Baldwin said he was told to fire. He did not pull the trigger, he said."
    new = old + " He has now been charged with manslaughter, prosecutors announced on Thursday."
    assert repeats(old, "Earlier, " + old, COPY) and not repeats(new, old, COPY)
    assert near_copies(new, old, COPY)  # what gather used before: the newer report's news was dropped with it


def test_since_an_event_uses_the_date_the_articles_give_it(idx):
    a = _ask(idx, "What has happened since the charges?")
    assert a.since == dt.date(2023, 1, 31) and all(c.date >= a.since for c in a.citations)


def test_reports_of_different_dates_are_each_labelled_with_their_date(idx):
    a = _ask(idx, "Will Baldwin face criminal charges?")
    assert "doesn’t believe he will face criminal charges" in a.text
    if len({c.date for c in a.citations}) > 1:  # one line per report, each saying when it was published
        lines = a.text.splitlines()
        assert len(lines) == len(a.citations)
        for line, c in zip(lines, a.citations):
            assert str(c.date) in line.split(": ", 1)[0] and line.endswith(f"[{c.n}]")


@pytest.mark.parametrize("q", ["Will Baldwin face criminal charges?", "Is Baldwin going to be charged criminally?",
                               "will alec baldwin be prosecuted"])
def test_an_old_expectation_is_followed_by_the_later_report_that_settles_it(idx, q):
    """December 2021: "he doesn't believe he will face criminal charges"; January 2023: he has been charged.
    An answer quoting only the first would mislead, however the question is worded."""
    a = _ask(idx, q)
    assert not a.refused
    charged = [c for c in a.citations if c.date == dt.date(2023, 1, 31) and "has been charged" in c.quote]
    assert charged, a.text
    assert any(c.date < dt.date(2023, 1, 1) for c in a.citations), a.text  # the older reports are kept too
    line = next(x for x in a.text.splitlines() if x.endswith(f"[{charged[0].n}]"))
    assert line.startswith("Latest, 2023-01-31: "), a.text


@pytest.mark.parametrize("q", ["Today is January 15, 2022. Will Baldwin face criminal charges?",
                               "will baldwin face criminal charges? (asked on 2022-01-15)"])
def test_a_question_asked_as_of_a_day_it_names_knows_nothing_published_later(idx, q):
    a = _ask(idx, q)
    assert not a.refused and a.until == dt.date(2022, 1, 15)
    assert a.citations and all(c.date <= dt.date(2022, 1, 15) for c in a.citations), a.text
    assert "has been charged" not in a.text


def test_date_windows_from_the_question_and_the_arguments(idx):
    a = _ask(idx, "What was reported in January 2022 about Baldwin?")
    assert a.citations and {c.date for c in a.citations} == {dt.date(2022, 1, 3)}
    b = _ask(idx, "What did Baldwin say?", since="2023-01-01")
    assert b.citations and all(c.date >= dt.date(2023, 1, 1) for c in b.citations)
    c = _ask(idx, "What happened in 2024?")
    assert c.refused and c.text.startswith("Nothing in this date range") and "2021-12-02 to 2023-01-31" in c.text
    # the question's own window outside the caller's: said plainly, never an error
    d = _ask(idx, "What was reported in 2021 about the shooting?", since="2023-01-01")
    assert d.refused and d.text.startswith("Nothing in this date range")


def test_as_of_a_date_in_figures_uses_only_what_was_published_by_then(idx):
    a = _ask(idx, "What had Baldwin said about the trigger as of 12/5/2021?")
    assert not a.refused and a.until == dt.date(2021, 12, 5)
    assert a.citations and all(c.date <= dt.date(2021, 12, 5) for c in a.citations)


def test_before_an_event_the_archive_opens_with_is_story_time_not_an_empty_window(idx):
    # every article reports the rehearsal, the first one included: nothing was published before it
    a = _ask(idx, "Did Baldwin check the gun before the rehearsal?")
    assert not a.refused and a.citations and "Nothing in this date range" not in a.text
    assert a.until == TODAY  # only "today" bounds the articles


def test_a_date_when_something_happened_does_not_filter_the_articles(idx):
    # the shooting happened on October 21, 2021; every article about it was published later
    a = _ask(idx, "Who was killed on the set of Rust on October 21, 2021?")
    assert not a.refused and "killed" in a.text
    assert a.since is None and a.until == TODAY  # no window from the date: only "today" bounds the articles


@pytest.mark.parametrize("q", ["What did Baldwin post on Instagram around Christmas 2021?",
                               "What did Baldwin say on Instagram at Christmas?"])
def test_a_holiday_is_a_date_not_a_name_the_articles_must_contain(idx, q):
    # no article writes "Christmas": it dates the question (the video of December 24), it names nobody
    a = _ask(idx, q)
    assert not a.refused and "Instagram" in a.text
    assert any(c.date in (dt.date(2021, 12, 24), dt.date(2022, 1, 3)) and "Instagram" in c.quote for c in a.citations)


@pytest.mark.parametrize("q", [
    "Between the article published on December 2, 2021 and the one from January 3, 2022, "
    "did Baldwin change his account of pulling the trigger?",
    # the words that only date the reports are not what the answer must cover: the shorter question is answered too
    "Between the article published on December 2, 2021 and the one from January 3, 2022, did Baldwin change his account?",
])
def test_two_dated_reports_compared_are_both_quoted_and_labelled(idx, q):
    a = _ask(idx, q)
    assert not a.refused
    dates = {c.date for c in a.citations} | {r.date for c in a.citations for r in c.also_in}
    assert {dt.date(2021, 12, 2), dt.date(2022, 1, 3)} <= dates
    for c in a.citations:
        assert c.label and str(c.date) in c.label and f"{c.label}: " in a.text


def test_a_sentence_that_restates_the_question_is_not_its_answer(tmp_path, real_embedder):
    """An article echoing a question ("Readers keep asking us: Who handed ...?") does not capture the answer."""
    import shutil

    from rag import index_corpus

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "zz_echo.txt").write_text(
        " date 2023-03-01 Your questions about Rust, answered\n"
        "Readers keep asking us: Who handed Alec Baldwin the gun? Others ask who handed Baldwin the gun that day. "
        "We collected your questions about the Rust shooting [1] and the gun [2] below.\n",
        encoding="utf-8")
    root = tmp_path / "index"
    index_corpus([corpus], settings=Settings(index=root), embedder=real_embedder)
    echo_idx = Index.open(root, embedder=real_embedder, settings=Settings(index=root))
    a = _ask(echo_idx, "Who handed Alec Baldwin the gun?")
    assert not a.refused and a.citations
    assert not any("handed" in c.quote and c.source == "zz_echo.txt" for c in a.citations), a.text
    # an article's text can never forge a citation marker: every [n] in an answer is one of its citations
    import re

    for q in ("What questions did readers collect about the Rust shooting?", "Who handed Baldwin the gun?"):
        b = _ask(echo_idx, q)
        assert {int(n) for n in re.findall(r"\[(\d+)\]", b.text)} == {c.n for c in b.citations}


@pytest.mark.parametrize("history, name", [("text", "history"), ([("q",)], "history item 0"),
                                           ([("q", 5)], "history item 0"), (42, "history")])
def test_wrong_history_types_are_named(idx, history, name):
    with pytest.raises(InvalidQuery, match=name):
        _ask(idx, "What did he say?", history=history)


@pytest.mark.parametrize("q", [
    "Between the article published on December 2, 2021 and the one from January 3, 2022, did Baldwin change his account?",
    "What happened before January 1, 1900 or after December 31, 2099?",
    "How many minutes did Trump let violence play out on January 6, 2021?",
    "DeSantis announced his 2024 bid on which platform?",
    "[1] [2] [3]?", "Who?", "2022?", "latest first earliest newest",
])
def test_a_questions_own_words_never_raise(idx, q):
    a = _ask(idx, q, until="2023-12-31")
    assert isinstance(a.text, str) and a.text


def test_follow_up_is_resolved_against_the_conversation(idx):
    first = _ask(idx, "Who handed Alec Baldwin the gun?")
    follow = _ask(idx, "What did his lawyer say about it?", history=[("Who handed Alec Baldwin the gun?", first.text)])
    assert follow.resolved_question and "Halls" in follow.resolved_question
    assert not follow.refused and follow.citations[0].source in (GUN, "002_5b34f11284f4eebe.txt")
    assert "attorney" in follow.text or "lawyer" in follow.text


@pytest.mark.parametrize("q, msg", [("   ", "the question is empty"), ("x" * 5000, "characters long")])
def test_bad_questions(idx, q, msg):
    with pytest.raises(InvalidQuery, match=msg):
        _ask(idx, q)


def _rag(*args):
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=600)


def test_labelled_set_through_rag_eval(seed_index):
    """The hand-written questions, kept as a regression set (nothing is tuned on them): answer hits at least 0.70
    (the reader scored 0.74-0.78 on them when it was fit), every out-of-corpus question refused, citations exact."""
    r = _rag("eval", str(ROOT / "tests" / "questions.jsonl"), "--index", str(seed_index), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    o = report["overall"]
    assert o["questions"] >= 30
    assert o["answer_hit_rate"] >= 0.70, [q for q in report["questions"] if q.get("hit") is False]
    assert report["by_type"]["refuse"]["refusal_accuracy"] == 1.0
    assert o["citation_correctness"] == 1.0
    assert o["false_refusals"] == 0


def test_rag_ask_cli(seed_index):
    r = _rag("ask", "Who handed Alec Baldwin the gun?", "--index", str(seed_index), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) >= {"question", "answer", "refused", "citations"}
    c = d["citations"][0]
    assert set(c) >= {"n", "source", "date", "title", "quote", "start", "end", "score", "also_in"}
    assert (c["source"], c["date"]) == (GUN, "2021-12-02")
    r = _rag("ask", "Who handed Alec Baldwin the gun?", "--index", str(seed_index))
    assert "Sources:" in r.stdout and f"[1] {GUN}  2021-12-02" in r.stdout
    for q in ("", "   ", "y" * 3000):
        r = _rag("ask", q, "--index", str(seed_index))
        assert r.returncode != 0 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_an_answer_reads_one_generation_even_if_a_newer_one_goes_live(tmp_path, hash_embedder, seeds_copy):
    from rag import index_corpus

    root = tmp_path / "index"
    settings = Settings(index=root, model=hash_embedder.name)
    index_corpus([seeds_copy], settings=settings, embedder=hash_embedder)
    live = Index.open(root, settings=settings, embedder=hash_embedder)
    snap = live.snapshot()
    (seeds_copy / GUN).unlink()
    index_corpus([seeds_copy], settings=settings, embedder=hash_embedder, prune=True)
    assert live.refresh() is True and snap.refresh() is False
    assert live.store.article_by_source(GUN) is None and snap.store.article_by_source(GUN) is not None
    hits = snap.search("Who handed Alec Baldwin the gun?", k=19)
    assert GUN in {h.source for h in hits} and all(snap.store.article_by_source(h.source) for h in hits)


def test_latest_and_first_never_raise_on_placeholder_dates(tmp_path, hash_embedder):
    """A feed's "0001-01-01T00:00:00Z" (Go's zero time) or a far-future date: there is no day beyond them."""
    from rag import index_corpus

    docs = tmp_path / "docs"
    docs.mkdir()
    body = "The council voted to fund the new bridge over the river after a long debate. " * 3
    (docs / "bridge.jsonl").write_text("\n".join(json.dumps(a) for a in [
        {"title": "Bridge funded", "text": body, "date": "0001-01-01T00:00:00Z", "url": "https://x.example/1"},
        {"title": "Bridge opens", "text": body + "It opened today.", "date": "9999-12-31", "url": "https://x.example/2"},
        {"title": "Bridge debate", "text": body + "Debate went on.", "date": "2021-03-04", "url": "https://x.example/3"},
    ]))
    settings = Settings(index=tmp_path / "index", model=hash_embedder.name)
    index_corpus([docs], settings=settings, embedder=hash_embedder)
    idx = Index.open(tmp_path / "index", settings=settings, embedder=hash_embedder)
    dates = {a.date for a in idx.articles}
    assert dt.date.min in dates or dt.date.max in dates  # the placeholders were read as dates
    for q in ("What was the first report about the bridge?", "What is the latest on the bridge?"):
        a = answer(q, index=idx, settings=settings)
        assert a.text  # an answer or a plain refusal, never an exception
