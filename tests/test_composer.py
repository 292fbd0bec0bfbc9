"""Composer: quotes rendered with their markers, dated lines, comparison labels; article text cannot forge a marker."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from rag.composer import Pick, near_copies, render
from rag.sentences import Evidence, Sentence, Span
from rag.retrieval import Hit


def _ev(text: str, source: str, date: dt.date, score: float = 0.9, publisher: str | None = None, span=None):
    hit = Hit(text, source, date, f"Title of {source}", score, 100, 100 + len(text), publisher=publisher)
    return Evidence(Sentence(text, 100, 100 + len(text), hit, 0.0), score, 0.5, span)


def test_article_text_cannot_forge_a_citation_marker():
    e = _ev("Halls handed him the gun [2], sources said [10].", "a.txt", dt.date(2021, 12, 2))
    text, cites = render([Pick(e)])
    assert re.findall(r"\[(\d+)\]", text) == ["1"] and len(cites) == 1
    assert cites[0].quote == e.sentence.text  # the citation keeps the exact words


def test_reports_of_different_days_read_as_a_chronology_newest_marked():
    old = _ev("He does not expect to be charged.", "a.txt", dt.date(2021, 12, 24))
    new = _ev("He has been charged with involuntary manslaughter.", "b.txt", dt.date(2023, 1, 31))
    text, cites = render([Pick(new, update=True), Pick(old)])
    assert text.splitlines() == ["2021-12-24: He does not expect to be charged. [1]",
                                 "Latest, 2023-01-31: He has been charged with involuntary manslaughter. [2]"]
    assert [c.date for c in cites] == [dt.date(2021, 12, 24), dt.date(2023, 1, 31)]


def test_reports_of_different_days_without_an_update_keep_the_best_first_each_dated():
    best = _ev("The jury found the armorer guilty of manslaughter.", "v.txt", dt.date(2024, 3, 6))
    other = _ev("The 42-year-old was killed on set.", "a.txt", dt.date(2022, 1, 3))
    text, _ = render([Pick(best), Pick(other)])
    assert text.splitlines() == ["2024-03-06: The jury found the armorer guilty of manslaughter. [1]",
                                 "2022-01-03: The 42-year-old was killed on set. [2]"]


def test_comparison_sides_carry_publisher_and_date_labels():
    a = _ev("Google spent $26.3 billion in 2021.", "tc.json#1", dt.date(2023, 10, 31), publisher="TechCrunch")
    b = _ev("Google ranks local results by relevance.", "v.json#2", dt.date(2023, 10, 26), publisher="The Verge")
    text, cites = render([Pick(b, label="The Verge, 2023-10-26"), Pick(a, label="TechCrunch, 2023-10-31")])
    assert text.splitlines()[0] == "The Verge, 2023-10-26: Google ranks local results by relevance. [1]"
    assert [c.label for c in cites] == ["The Verge, 2023-10-26", "TechCrunch, 2023-10-31"]


def test_a_sure_short_answer_is_marked_by_offsets():
    text = "He claims first assistant director Dave Halls handed him the prop weapon."
    i = text.index("Dave Halls")
    e = _ev(text, "a.txt", dt.date(2021, 12, 2), span=Span("Dave Halls", 100 + i, 110 + i, "name", 0.9))
    _, cites = render([Pick(e)], span_floor=0.5)
    assert cites[0].answer_span == "Dave Halls" and cites[0].to_dict()["answer"]["start"] == 100 + i
    _, unsure = render([Pick(e)], span_floor=0.95)
    assert unsure[0].answer_span == "" and "answer" not in unsure[0].to_dict()


def test_near_copies_ignore_case_quotes_and_framing():
    a = "“I cock the gun. I go, ‘Can you see that?’ And then I let go of the hammer,” he recalled."
    assert near_copies(a, a.replace("“", '"').upper()) and near_copies(a, "He said: " + a)
    assert not near_copies(a, "Alec Baldwin has been charged with involuntary manslaughter.")


def test_a_shortened_name_is_found_in_full_before_or_after_it():
    from rag.names import full_name

    day = dt.date(2023, 10, 4)
    said = [_ev(t, f"{n}.txt", day) for n, t in enumerate([
        "FTX founder Sam Bankman-Fried’s trial began on Tuesday in Manhattan.",
        "Prosecutors say Sam Bankman-Fried took customer money.",
        "New users of Caesars Sportsbook get a bonus bet if their first bet loses.",
        "The Caesars Sportsbook app covers the NBA and the PGA Tour.",
        "Caesars Palace is in Las Vegas.",
        "Halls handed him the gun, his attorney did not confirm.",
        "McHalls Smith was on set that day.",
    ])]
    assert full_name("Bankman-Fried", said) == "Sam Bankman-Fried"  # the title "FTX founder" is not the name
    assert full_name("Caesars", said) == "Caesars Sportsbook"  # the form the passages use most
    assert full_name("Halls", said) == "Halls"  # "McHalls Smith" is another name: kept as it is


@pytest.mark.parametrize("texts, name, full", [
    # a headline capitalises every word: "Found Guilty" is not part of the name
    (["Sam Bankman-Fried Found Guilty On All Counts", "Bankman-Fried was convicted."], "Bankman-Fried",
     "Sam Bankman-Fried"),
    (["Alec Baldwin Monday said he was sorry."], "Alec Baldwin", "Alec Baldwin"),  # a weekday, not a name
    (["Donald Trump Jr. spoke first."], "Donald Trump", "Donald Trump"),  # "Jr." is another person
    (["Britney Spears, 41, wrote a memoir."], "Britney", "Britney Spears"),
])
def test_words_after_a_name_are_part_of_it_only_when_they_name(texts, name, full):
    from rag.names import full_name

    assert full_name(name, [_ev(t, f"{n}.txt", dt.date(2023, 1, 1)) for n, t in enumerate(texts)]) == full


def test_the_same_answer_is_one_name_shortened_or_whole_or_exactly_one_number():
    from rag.names import same_answer

    def sp(text: str, kind: str = "name") -> Span:
        return Span(text, 0, len(text), kind, 0.5)

    assert same_answer(sp("Bankman-Fried"), sp("Sam Bankman-Fried")) and same_answer(sp("Caesars"), sp("Caesars Sportsbook"))
    assert not same_answer(sp("Halls"), sp("Halyna Hutchins")) and not same_answer(sp("Sam"), sp("Altman"))
    assert not same_answer(sp("2", "number"), sp("2,000", "number")) and same_answer(sp("42", "number"), sp("42", "number"))
    assert not same_answer(sp("ABC", "name"), sp("ABC", "place"))


def test_an_answer_naming_only_a_surname_also_quotes_the_name_in_full():
    from rag.composer import _with_full_name

    day = dt.date(2023, 10, 4)
    text = "Before his fall, Bankman-Fried made himself out to be the trustworthy face of crypto."
    i = text.index("Bankman-Fried")
    best = _ev(text, "a.txt", day, span=Span("Bankman-Fried", 100 + i, 113 + i, "name", 0.8))
    whole = _ev("Sam Bankman-Fried pleaded not guilty to seven charges.", "b.txt", day, score=0.2)
    chosen = _with_full_name([best], [best, whole], best.span, cap=3)
    assert [e.hit.source for e in chosen] == ["a.txt", "b.txt"]
    text, cites = render([Pick(e) for e in chosen], span_floor=0.5)
    assert "Sam Bankman-Fried" in text and cites[1].answer_span == "Sam Bankman-Fried"


def test_only_the_short_answer_is_bold_not_every_name_quoted():
    day = dt.date(2021, 12, 2)

    def ev(text: str, name: str, score: float, source: str):
        i = text.index(name)
        return _ev(text, source, day, span=Span(name, 100 + i, 100 + i + len(name), "name", score))

    picks = [Pick(ev("He claims first assistant director Dave Halls handed him the prop weapon.", "Dave Halls", 0.9, "a")),
             Pick(ev("Baldwin spoke to ABC News anchor George Stephanopoulos.", "ABC News", 0.5, "b")),
             Pick(ev("Halls was the one who handed Alec the gun, his attorney did not confirm.", "Halls", 0.3, "c"))]
    _, cites = render(picks, span_floor=0.2)
    assert [c.answer_span for c in cites] == ["Dave Halls", "", "Halls"]  # the same person, shortened: marked too


def test_a_when_question_dates_every_line_so_relative_dates_can_be_read():
    e = _ev("Earlier this month, Alec vowed to fight the charges against him.", "c.txt", dt.date(2023, 1, 31))
    assert render([Pick(e)])[0] == "Earlier this month, Alec vowed to fight the charges against him. [1]"
    text, _ = render([Pick(e)], when=True)
    assert text == "2023-01-31: Earlier this month, Alec vowed to fight the charges against him. [1]"
