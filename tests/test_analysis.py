"""Question analysis: which dates narrow the articles, which only raise them, answer types, comparisons."""

from __future__ import annotations

import datetime as dt

import pytest

from rag import Article
from rag.analysis import analyse_question, answer_type, question_names, resolve_followup
from rag.query import PublisherMatcher

TODAY = dt.date(2026, 11, 21)
D = dt.date
M = PublisherMatcher(["TechCrunch", "The Verge", "Sporting News"])


def _q(text, **kw):
    return analyse_question(text, today=kw.pop("today", None), matcher=M, **kw)


@pytest.mark.parametrize("text, since, until", [
    ("What was reported in January 2022 about the case?", D(2022, 1, 1), D(2022, 1, 31)),
    ("What did articles from 2023 say about Baldwin?", D(2023, 1, 1), D(2023, 12, 31)),
    ("Before 2022, did Baldwin expect to be charged?", None, D(2021, 12, 31)),
    ("What was known about the charges as of 2023-02-01?", None, D(2023, 2, 1)),
    ("What was written about the film between December 2021 and January 2022?", D(2021, 12, 1), D(2022, 1, 31)),
    ("What happened in 2024?", D(2024, 1, 1), D(2024, 12, 31)),  # nothing but a date: the date is the question
])
def test_publication_windows_narrow_the_articles(text, since, until):
    q = _q(text)
    assert (q.since, q.until) == (since, until) and q.window_from_words and not q.empty


@pytest.mark.parametrize("text", [
    "How many minutes did Trump let violence play out on January 6, 2021?",
    "DeSantis announced his 2024 bid on which platform?",
    "What did Baldwin say in January 2022 about his goals?",
])
def test_event_dates_only_raise_matching_articles(text):
    q = _q(text)
    assert (q.since, q.until) == (None, None) and q.boosts and not q.window_from_words
    # the date stays in the words searched: passages that name it should match
    assert any(w in q.search for w in ("2021", "2024", "2022"))


def test_dates_that_pick_out_compared_reports_never_filter():
    q = _q("Between the article published on December 2, 2021 and the one from January 3, 2022, "
           "did Baldwin change his account?")
    assert q.compares and (q.since, q.until) == (None, None) and len(q.boosts) == 2
    q = _q("Did the Federal Reserve change its stance after The Verge reported on it before October 1, 2023, "
           "and did TechCrunch report it differently in a subsequent report?")
    assert q.compares and (q.since, q.until) == (None, None)
    assert {p for part in q.parts for p in part.publishers} == {"The Verge", "TechCrunch"}


def test_a_window_the_words_cannot_satisfy_never_raises():
    q = _q("What happened before January 1, 1900 or after December 31, 2099?")
    assert not q.empty and (q.since, q.until) == (None, None)
    # the question's own window outside the caller's: an empty window, answered as such (never an error)
    q = _q("What was reported in 2021 about the film?", since=D(2023, 1, 1))
    assert q.empty


def test_the_callers_window_is_only_narrowed_and_today_ends_it():
    q = _q("What was reported in 2022 about the film?", since=D(2021, 6, 1), until=D(2022, 6, 30))
    assert (q.since, q.until) == (D(2022, 1, 1), D(2022, 6, 30))
    q = _q("What happened this week?", today=TODAY)
    assert (q.since, q.until) == (D(2026, 11, 14), TODAY)
    assert _q("Who handed Baldwin the gun?", today=D(2021, 12, 10)).until == D(2021, 12, 10)


def test_since_an_event_takes_its_date_from_the_articles():
    arts = [Article("a", "a.txt", "Actor charged with manslaughter", D(2023, 1, 31), "Actor charged with manslaughter."),
            Article("b", "b.txt", "Actor speaks", D(2021, 12, 2), "The actor spoke about the shooting.")]
    from rag.sentences import stems

    q = _q("What has happened since the charges?", articles=arts, stems=stems)
    assert q.since == D(2023, 1, 31) and q.order is None


@pytest.mark.parametrize("text, kind", [
    ("Who handed Alec Baldwin the gun?", "person"),
    ("According to TechCrunch, who founded the company?", "person"),
    ("When did the shooting happen?", "time"),
    ("In what year was the film announced?", "time"),
    ("Where was the gun aimed?", "place"),
    ("How many minutes did the violence last?", "quantity"),
    ("What percentage of voters agreed?", "quantity"),
    ("Which film was Baldwin working on?", "entity"),
    ("What gun was Baldwin carrying?", "entity"),
    ("Did Baldwin pull the trigger?", "yesno"),
    ("Between the two reports, did Baldwin change his account?", "yesno"),
    ("According to the sheriff, was the gun loaded?", "yesno"),
    ("What did Baldwin say about the gun?", "description"),
    ("Why did the gun go off?", "description"),
    # a clause before the question: the question word after the comma asks
    ("When the cinematographer fell, what did the actor think had happened?", "description"),
    ("Where the crew stood, which camera was rolling?", "entity"),
    ("When did the shooting happen, according to the sheriff?", "time"),
    # "who is <a name>" asks what the person is; "the name of" asks for a name
    ("Who is Joel Souza?", "description"),
    ("Who was the director of the film?", "person"),
    ("What was the name of the woman who died on the set?", "entity"),
])
def test_answer_types(text, kind):
    assert answer_type(text) == kind


def test_names_and_follow_ups():
    assert question_names("Who handed Alec Baldwin the gun on the set of Rust in October?") == ("Alec Baldwin", "Rust")
    assert question_names("What did Biden say at Christmas and on New Year's Eve in Times Square?") == ("Biden", "Times Square")
    rewritten = resolve_followup("What did his lawyer say?", [("Who handed Alec Baldwin the gun?", "Dave Halls did.")])
    assert "Alec Baldwin" in rewritten and "Dave Halls" in rewritten
    own = "Who was the cinematographer killed on the Rust set in New Mexico?"
    assert resolve_followup(own, [("Who handed Alec Baldwin the gun?", "Dave Halls did.")]) == own


@pytest.mark.parametrize("text", ["", "?", "[[[[", "1900 1900 1900 before after between and", "ı İ ß",
                                  "between January 1, 2022 and", "before 0001-01-01", "as of 9999-12-31",
                                  "Between and and and 2022 2023 2024 2025 latest first earliest"])
def test_odd_questions_never_raise(text):
    q = _q(text, today=TODAY)
    assert q.text == text and isinstance(q.search, str)
