"""Question analysis: publisher names from the index's metadata, dates from rag.dates, one part per subject."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.query import Part, PublisherMatcher, analyse, publisher_aliases

PUBLISHERS = ["TechCrunch", "The Verge", "The Age", "Fortune", "FOX News - Lifestyle", "FOX News - Health",
              "Cnbc | World Business News Leader", "CBSSports.com", "The New York Times",
              "The Independent - Life and Style"]


@pytest.fixture(scope="module")
def matcher():
    return PublisherMatcher(PUBLISHERS)


def test_aliases_come_from_the_name_itself():
    assert publisher_aliases("Cnbc | World Business News Leader") == {"Cnbc | World Business News Leader", "Cnbc"}
    assert publisher_aliases("CBSSports.com") == {"CBSSports.com", "CBSSports"}
    assert publisher_aliases("The New York Times") == {"The New York Times", "New York Times"}
    # a lone word left after "The" is too common a word to count as the name
    assert publisher_aliases("The Verge") == {"The Verge"}


@pytest.mark.parametrize("question, named", [
    ("What did TechCrunch report?", [{"TechCrunch"}]),
    ("Did 'The Verge' and techcrunch agree?", [{"The Verge"}]),  # a name is capitalised
    ("the Verge said so", [{"The Verge"}]),
    ("Is this the age of AI?", []),  # "the age", not The Age
    ("Was it a fortune?", []),
    ("According to The Age, ...", [{"The Age"}]),
    ("What did CNBC and the New York Times say?", [{"Cnbc | World Business News Leader"}, {"The New York Times"}]),
    ("Does FOX News report it?", [{"FOX News - Lifestyle", "FOX News - Health"}]),  # an alias shared by two
    ("Per FOX News - Health, ...", [{"FOX News - Health"}]),  # the longest name wins
    ("TechCrunchy gadgets", []),  # whole words only
])
def test_publisher_mentions(matcher, question, named):
    assert [set(m.publishers) for m in matcher.find(question)] == named


def test_a_matcher_without_names_finds_nothing():
    m = PublisherMatcher([None, "", "  "])
    assert not m and m.find("TechCrunch") == [] and analyse("TechCrunch?", m).is_plain


def test_a_plain_question_has_no_parts(matcher):
    a = analyse("Who handed Alec Baldwin the gun?", matcher)
    assert a.is_plain and a.parts == () and a.publishers == frozenset()


def test_each_publisher_is_its_own_part(matcher):
    q = "Does the 'Fortune' article say X, while the TechCrunch article says Y?"
    a = analyse(q, matcher)
    assert a.publishers == {"Fortune", "TechCrunch"}
    assert a.parts == (Part("Does the 'Fortune' article say X, while the", frozenset({"Fortune"})),
                       Part("TechCrunch article says Y?", frozenset({"TechCrunch"})))


def test_dates_belong_to_the_publisher_they_follow(matcher):
    q = ("Between the TechCrunch report on Google published on October 31, 2023, and the TechCrunch report "
         "on the lawsuit published on December 15, 2023, did the portrayal change?")
    a = analyse(q, matcher)
    oct31, dec15 = dt.date(2023, 10, 31), dt.date(2023, 12, 15)
    assert [(p.publishers, p.since, p.until) for p in a.parts] == [
        ({"TechCrunch"}, oct31, oct31), ({"TechCrunch"}, dec15, dec15)]
    assert a.windows == ((oct31, oct31), (dec15, dec15))


def test_a_repeated_publisher_without_a_date_joins_its_dated_part(matcher):
    q = ("Between The Age on October 19, 2023, and TechCrunch on October 31, 2023, which reported more, "
         "The Age or TechCrunch?")
    parts = analyse(q, matcher).parts
    assert [(set(p.publishers), p.since) for p in parts] == [
        ({"The Age"}, dt.date(2023, 10, 19)), ({"TechCrunch"}, dt.date(2023, 10, 31))]


def test_several_dates_without_publishers_split_at_each_date(matcher):
    q = "Did the report published on October 2, 2023 agree with the one published on October 7, 2023?"
    parts = analyse(q, matcher).parts
    assert [(p.text, p.since) for p in parts] == [
        ("Did the report published on October 2, 2023", dt.date(2023, 10, 2)),
        ("agree with the one published on October 7, 2023", dt.date(2023, 10, 7))]
    assert all(not p.publishers for p in parts)


def test_one_date_alone_is_a_window_not_a_split(matcher):
    a = analyse("What happened in November 2023?", matcher)
    assert a.windows == ((dt.date(2023, 11, 1), dt.date(2023, 11, 30)),) and a.parts == ()


def test_an_open_window_keeps_its_bounding_day(matcher):
    # "after December 5" reads as December 6 on; the report of December 5 itself is kept in reach
    a = analyse("Did TechCrunch change its view after December 5, 2023?", matcher)
    assert a.windows == ((dt.date(2023, 12, 5), None),)
    b = analyse("What had TechCrunch said before December 5, 2023?", matcher)
    assert b.windows == ((None, dt.date(2023, 12, 5)),)


@pytest.mark.parametrize("question, expected", [
    ("Which company makes the iPhone, and faces an antitrust suit in Europe?",
     ["Which company makes the iPhone", "faces an antitrust suit in Europe"]),
    ("Who was charged, while also being sued by his investors; who testified at the trial?",
     ["Who was charged", "being sued by his investors", "who testified at the trial"]),
    ("Who handed Alec Baldwin the gun?", ["Who handed Alec Baldwin the gun"]),
    ("Tom and Jerry?", []),  # pieces under three words are no clause
])
def test_clauses(question, expected):
    from rag.query import clauses

    assert clauses(question) == expected


def test_a_publisher_name_is_never_cut(matcher):
    from rag.query import clauses

    q = "Did The Independent - Life and Style report on the tour dates and the ticket prices?"
    spans = [(m.start, m.end) for m in matcher.find(q)]
    assert clauses(q, keep=spans) == ["Did The Independent - Life and Style report on the tour dates",
                                      "the ticket prices"]
    assert clauses(q)[0] == "Did The Independent - Life"  # what an unprotected cut would do


@pytest.mark.parametrize("question", ["Reports until 9999-12-31?", "Reports since 0001-01-01?",
                                      "Reports after 9999-12-31?", "Reports before 0001-01-01?"])
def test_dates_at_the_ends_of_the_calendar_do_not_crash(matcher, question):
    from rag.query import analyse

    assert len(analyse(question, matcher).windows) == 1


def test_letters_whose_case_folding_differs_do_not_crash():
    from rag.query import PublisherMatcher

    m = PublisherMatcher(["Wired", "iMore"])
    assert all(x.publishers for x in m.find("Wıred telefon incelemesi? İmore?"))  # used to raise KeyError
    assert [sorted(x.publishers) for x in m.find("What did Wired say?")] == [["Wired"]]
