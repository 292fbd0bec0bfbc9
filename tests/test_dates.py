"""Dates in questions, each phrase form, with a fixed 'today'."""

from __future__ import annotations

import datetime as dt

import pytest

from rag import parse_question_dates

TODAY = dt.date(2026, 11, 21)
D = dt.date


@pytest.mark.parametrize("question, since, until, order, span", [
    ("What happened in January 2022?", D(2022, 1, 1), D(2022, 1, 31), None, "in January 2022"),
    ("What did he say in 2023?", D(2023, 1, 1), D(2023, 12, 31), None, "in 2023"),
    ("December 2021 interview", D(2021, 12, 1), D(2021, 12, 31), None, "December 2021"),
    ("What was said before 2022?", None, D(2021, 12, 31), None, "before 2022"),
    ("Status as of 2022-01-01?", None, D(2022, 1, 1), None, "as of 2022-01-01"),
    ("after December 3, 2021", D(2021, 12, 4), None, None, "after December 3, 2021"),
    ("since 5 Jan 2022", D(2022, 1, 5), None, None, "since 5 Jan 2022"),
    ("between December 2021 and January 2022", D(2021, 12, 1), D(2022, 1, 31), None,
     "between December 2021 and January 2022"),
    ("articles from 2023", D(2023, 1, 1), D(2023, 12, 31), None, "from 2023"),
    ("What is the latest on the case?", None, None, "newest", "latest"),
    ("the most recent report", None, None, "newest", "most recent"),
    ("the newest article", None, None, "newest", "newest"),
    ("What did he first say?", None, None, "oldest", "first"),
    ("What did Baldwin say last week?", D(2026, 11, 14), TODAY, None, "last week"),
    ("What happened in the past two weeks?", D(2026, 11, 7), TODAY, None, "past two weeks"),
    ("What was reported in the last 30 days?", D(2026, 10, 22), TODAY, None, "last 30 days"),
    ("news from the past three months", D(2026, 8, 20), TODAY, None, "past three months"),
    # in figures: month first as American English writes it, day first with dots or when it cannot be a month
    ("What had Baldwin said as of 12/5/2021?", None, D(2021, 12, 5), None, "as of 12/5/2021"),
    ("articles from 25/12/2021", D(2021, 12, 25), D(2021, 12, 25), None, "from 25/12/2021"),
    ("articles published 05.12.2021", D(2021, 12, 5), D(2021, 12, 5), None, "05.12.2021"),
    ("reported before 2021/12/05", None, D(2021, 12, 4), None, "before 2021/12/05"),
    # the end or start of a period bounds at that end of it
    ("What had Baldwin said by the end of 2021?", None, D(2021, 12, 31), None, "by the end of 2021"),
    ("As of the end of December 2021, had he been charged?", None, D(2021, 12, 31), None,
     "As of the end of December 2021"),
    ("What changed since the start of 2022?", D(2022, 1, 1), None, None, "since the start of 2022"),
    ("before the start of 2022", None, D(2021, 12, 31), None, "before the start of 2022"),
    ("As at 1 February 2022, had he been charged?", None, D(2022, 2, 1), None, "As at 1 February 2022"),
    ("Up until December 2021, what did he say?", None, D(2021, 12, 31), None, "Up until December 2021"),
    # parts of a year or a month: thirds, seasons, halves, quarters
    ("What had Baldwin said by mid-2022?", None, D(2022, 8, 31), None, "by mid-2022"),
    ("What was known as of late 2021?", None, D(2021, 12, 31), None, "as of late 2021"),
    ("What changed since early 2022?", D(2022, 1, 1), None, None, "since early 2022"),
    ("the latest on Baldwin as of summer 2022", None, D(2022, 8, 31), "newest", "as of summer 2022"),
    ("What happened in late January 2022?", D(2022, 1, 21), D(2022, 1, 31), None, "in late January 2022"),
    ("reports in the first half of 2022", D(2022, 1, 1), D(2022, 6, 30), None, "in the first half of 2022"),
    ("What was reported in Q3 2021?", D(2021, 7, 1), D(2021, 9, 30), None, "in Q3 2021"),
    ("before the fourth quarter of 2021", None, D(2021, 9, 30), None, "before the fourth quarter of 2021"),
    ("news from winter 2022", D(2021, 12, 1), D(2022, 2, 28), None, "from winter 2022"),
    ("after the autumn of 2021", D(2021, 12, 1), None, None, "after the autumn of 2021"),
])
def test_phrases(question, since, until, order, span):
    i = parse_question_dates(question, today=TODAY)
    assert (i.since, i.until, i.order) == (since, until, order)
    assert span in [question[a:b] for a, b in i.spans]


@pytest.mark.parametrize("question, day", [
    ("What did he post around Christmas 2021?", D(2021, 12, 25)),
    ("What was said on Christmas Eve, 2021?", D(2021, 12, 24)),
    ("What happened on New Year's Eve 2021?", D(2021, 12, 31)),
    ("the speech on New Year’s Day 2022", D(2022, 1, 1)),
    ("What closed over Easter 2021?", D(2021, 4, 4)),  # Easter moves: April 4 that year
    ("the Easter Monday 2022 parade", D(2022, 4, 18)),
    ("What did Biden say on Thanksgiving 2023?", D(2023, 11, 23)),  # the fourth Thursday of November
    ("Halloween 2020 curfews", D(2020, 10, 31)),
    ("Boxing Day 2020 sales", D(2020, 12, 26)),
])
def test_a_holiday_with_its_year_is_the_days_around_it(question, day):
    [m] = parse_question_dates(question, today=TODAY).mentions
    assert (m.since, m.until, m.cue) == (day - dt.timedelta(days=3), day + dt.timedelta(days=3), "bare")


def test_holidays_bound_a_window_like_any_date():
    i = parse_question_dates("What was reported between Christmas 2021 and Easter 2022?", today=TODAY)
    assert (i.since, i.until) == (D(2021, 12, 22), D(2022, 4, 20))
    assert parse_question_dates("What did he say at Christmas?", today=TODAY).mentions == ()  # which year: unknown
    assert parse_question_dates("Chinese New Year 2022", today=TODAY).mentions[0].since == D(2022, 1, 1)  # the year


def test_event_relative_dates_are_left_for_the_corpus():
    i = parse_question_dates("What has happened since the charges?", today=TODAY)
    assert (i.event, i.event_side, i.since, i.until) == ("charges", "after", None, None)
    assert parse_question_dates("What did he say before the interview?").event_side == "before"


@pytest.mark.parametrize("question", [
    "Did the team improve compared to the previous year?", "Is the defence worse than in past years?",
    "What happened on the last day of the trial?", "Was the passing lower than in previous weeks?",
])
def test_comparisons_with_earlier_periods_are_not_windows(question):
    assert parse_question_dates(question, today=TODAY).mentions == ()


@pytest.mark.parametrize("question, until", [
    ("Today is January 15, 2022. Will Baldwin face criminal charges?", D(2022, 1, 15)),
    ("It is now January 2022. Has Baldwin been charged?", D(2022, 1, 31)),
    ("Will Baldwin face criminal charges? (asked on 2022-01-15)", D(2022, 1, 15)),
    ("Assume it is 15 January 2022: will Baldwin be charged?", D(2022, 1, 15)),
    ("As of today (2022-01-15), has Baldwin been charged?", D(2022, 1, 15)),
    ("Current date: 2022-01-15. Has Baldwin been charged?", D(2022, 1, 15)),
])
def test_a_question_that_says_what_day_it_is_knows_nothing_later(question, until):
    i = parse_question_dates(question, today=TODAY)
    assert (i.since, i.until, i.order) == (None, until, None)
    [m] = i.mentions  # "today" and "now" there are that day, not the real one
    assert m.cue == "bound"


def test_this_week_counts_back_from_the_day_the_question_says_it_is():
    i = parse_question_dates("Today is January 15, 2022. What happened this week?", today=TODAY)
    assert (i.since, i.until) == (D(2022, 1, 8), D(2022, 1, 15))


def test_a_season_inside_a_name_is_no_date():
    assert parse_question_dates("What did the Arab Spring 2011 protests change?", today=TODAY).mentions[0].since \
        == D(2011, 1, 1)  # the year alone, not March to May
    assert parse_question_dates("What closed in Spring 2020?", today=TODAY).since == D(2020, 3, 1)
    assert parse_question_dates("In Spring 2020, what closed?", today=TODAY).since == D(2020, 3, 1)


@pytest.mark.parametrize("question", ["What did USA Today report about the trial?",
                                      "Did the Business Today article agree?"])
def test_today_inside_a_name_is_no_date(question):
    assert parse_question_dates(question, today=TODAY).mentions == ()
    assert parse_question_dates("Today, what is known?", today=TODAY).mentions[0].since == TODAY


def test_a_date_in_figures_that_is_no_date_is_not_read_as_its_year():
    assert parse_question_dates("What happened after 31/02/2021?", today=TODAY).mentions == ()


def test_no_dates_and_impossible_dates():
    assert parse_question_dates("Who handed Alec Baldwin the gun?", today=TODAY).is_empty
    assert parse_question_dates("What happened on February 30, 2022?", today=TODAY).since is None


@pytest.mark.parametrize("question, cue", [
    ("What was reported in January 2022?", "publication"),
    ("What did the articles from 2023 say?", "publication"),
    ("the story published on December 2, 2021", "publication"),
    ("How many minutes did the violence last on January 6, 2021?", "bare"),
    ("He announced his 2024 bid on which platform?", "bare"),
    ("What was known before 2022?", "bound"),
    ("Status as of 2022-01-01?", "bound"),
    ("between December 2021 and January 2022", "range"),
    ("What happened this week?", "relative"),
])
def test_each_date_says_how_it_is_framed(question, cue):
    assert [m.cue for m in parse_question_dates(question, today=TODAY).mentions] == [cue]


def test_first_as_an_adjective_is_not_an_order():
    assert parse_question_dates("What did the first assistant director say?", today=TODAY).order is None
    assert parse_question_dates("What was the first report about the interview?", today=TODAY).order == "oldest"


def test_dates_at_the_ends_of_the_calendar_do_not_overflow():
    i = parse_question_dates("after December 31, 2099 or before January 1, 1900", today=TODAY)
    assert [(m.since, m.until) for m in i.mentions] == [(D(2100, 1, 1), None), (None, D(1899, 12, 31))]
    assert parse_question_dates("until 9999-12-31", today=TODAY).mentions[0].until == D(9999, 12, 31)
