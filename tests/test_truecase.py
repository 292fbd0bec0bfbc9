"""A question typed without capitals gets the archive's capitals back, and only such a question."""

from __future__ import annotations

import pytest

from rag.truecase import is_uncased, learn_cases, truecase

TEXTS = [
    "Prosecutors said Alec Baldwin fired the gun on a set in New Mexico. Baldwin denied it.",
    "In a call, Baldwin's lawyer said Alec Baldwin would fight. The case in New Mexico goes on.",
    "A new report from The Verge says the company is on the verge of a deal; the verge of a breakthrough, said TechCrunch.",
    "TechCrunch reported the deal first, and TechCrunch later added details. Apple shares fell; apple growers shrugged.",
    "Shares of Apple rose, and analysts at Apple were upbeat. The report was new.",
]


@pytest.fixture(scope="module")
def table():
    return learn_cases(TEXTS, publishers=["The Verge", "TechCrunch", "Hacker News"])


def test_names_and_runs_of_names_come_back_as_the_archive_writes_them(table):
    assert truecase("who handed alec baldwin the gun in new mexico?", table) == \
        "who handed Alec Baldwin the gun in New Mexico?"
    assert truecase("what did baldwin's lawyer say?", table) == "what did Baldwin's lawyer say?"
    assert truecase("did techcrunch report it first?", table) == "did TechCrunch report it first?"


def test_ordinary_words_and_a_sentence_opening_capital_stay_lower_case(table):
    # "The", "In", "A" open sentences in the archive: capitals by position, never a name
    assert truecase("the report in a new case", table) == "the report in a new case"


def test_a_publisher_the_archive_writes_more_often_as_plain_words_stays_plain(table):
    # "on the verge of" twice, "The Verge" once: an uncased "the verge" is more likely the phrase
    assert "the verge" not in table
    # a publisher never written in the texts still comes back: nothing says otherwise
    assert truecase("what did hacker news say?", table) == "what did Hacker News say?"


def test_a_word_written_both_ways_follows_the_majority(table):
    assert table["apple"] == "Apple"  # two capitals mid-sentence against one "apple growers"


def test_a_question_in_capitals_only_is_read_like_one_without_any(table):
    assert truecase("WHO HANDED ALEC BALDWIN THE GUN IN NEW MEXICO?", table) == \
        "who handed Alec Baldwin the gun in New Mexico?"


@pytest.mark.parametrize("question", [
    "Who handed Alec baldwin the gun?",  # one capital after the first letter: typed with care, left alone
    "What did TechCrunch say?",
    "What did the FBI say?",
])
def test_a_question_with_capitals_is_left_exactly_as_typed(table, question):
    assert truecase(question, table) == question


def test_what_counts_as_typed_without_capitals():
    assert is_uncased("who handed alec baldwin the gun?") and is_uncased("Who handed alec baldwin the gun?")
    assert is_uncased("WHO HANDED ALEC BALDWIN THE GUN?")
    assert not is_uncased("who handed Alec Baldwin the gun?") and not is_uncased("?")
    assert truecase("who is baldwin?", {}) == "who is baldwin?"
