"""Corpus reading: seeds, collections, and every kind of bad file skipped with one clear warning."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import pytest

from rag import CorpusError, load_corpus
from tests.conftest import MULTIHOP, SEEDS


def test_seeds_read_with_dates_and_headlines():
    c = load_corpus([SEEDS])
    by = {a.source: a for a in c.articles}
    assert sorted(by) == sorted(p.name for p in SEEDS.iterdir())
    a = by["004_3895aaea98e54197.txt"]
    assert a.date == dt.date(2021, 12, 2)
    assert a.title == "Alec Baldwin Says He Would Do Anything to Undo ‘Rust’ Tragedy"
    assert a.text.startswith(a.title) and "date 2021" not in a.text
    assert (a.date_source, a.date_confidence) == ("date-line", "high")
    assert c.skipped == () and c.warnings == ()


def _digest(articles) -> str:
    return hashlib.sha256("\n".join(sorted(f"{a.source} {a.id} {a.date} {a.title}" for a in articles)).encode()).hexdigest()


# Computed with the reader as it was before web pages, feeds, web archives and CSV were added: the same files
# must keep the same citation keys, ids, dates and headlines, so an existing index re-embeds nothing.
SEEDS_DIGEST = "2040ded27003b35c3d4efbc2676567eb39c9e49b73492e1569de3681e8bcebd2"
MULTIHOP_DIGEST = "fc9be2b3849c32888fe4adfff7e92cf61a8d7587c7dec142d86ab80140db9d95"


def test_seeds_and_collections_read_exactly_as_before():
    assert _digest(load_corpus([SEEDS]).articles) == SEEDS_DIGEST
    path = MULTIHOP / "corpus.json"
    if not path.exists():
        pytest.skip(f"{path} is not beside this checkout")
    c = load_corpus([path])
    assert _digest(c.articles) == MULTIHOP_DIGEST
    assert {(a.date_source, a.date_confidence) for a in c.articles} == {("json-field", "high")}


def test_ids_come_from_content(tmp_path):
    (tmp_path / "a.txt").write_text(" date 2021-12-02 Head\n\nBody one.")
    (tmp_path / "b.txt").write_text(" date 2021-12-02 Head\n\nBody two.")
    first = {a.source: a.id for a in load_corpus([tmp_path]).articles}
    assert first == {a.source: a.id for a in load_corpus([tmp_path]).articles}
    assert first["a.txt"] != first["b.txt"]
    (tmp_path / "a.txt").write_text(" date 2021-12-02 Head\n\nBody one, edited.")
    assert {a.source: a.id for a in load_corpus([tmp_path]).articles}["a.txt"] != first["a.txt"]


def test_multihop_corpus_indexes_as_it_is():
    path = MULTIHOP / "corpus.json"
    if not path.exists():
        pytest.skip(f"{path} is not beside this checkout")
    c = load_corpus([path])
    assert len(c.articles) == 609 and c.skipped == ()
    a = next(a for a in c.articles if a.url == "https://techcrunch.com/2023/10/01/ftx-lawsuit-timeline/")
    assert a.source == "corpus.json#https://techcrunch.com/2023/10/01/ftx-lawsuit-timeline/"
    assert (a.publisher, a.date) == ("TechCrunch", dt.date(2023, 10, 1))
    assert a.title == "SBF’s trial starts soon, but how did he — and FTX — get here?"


def test_jsonl_with_text_date_and_no_url(tmp_path):
    lines = [
        {"title": "One", "text": "First body.", "date": "2022-01-05", "source": "Wire"},
        "not json at all",
        {"title": "Two", "body": "", "date": "2022-01-06"},
        {"title": "Three", "body": "Third body.", "published_at": "2022-02-30"},
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    c = load_corpus([tmp_path / "c.jsonl"])
    assert [(a.source, a.title, a.date, a.publisher) for a in c.articles] == [
        ("c.jsonl#1", "One", dt.date(2022, 1, 5), "Wire"),
        ("c.jsonl#4", "Three", None, None),
    ]
    assert [s for s, _ in c.skipped] == ["c.jsonl line 2", "c.jsonl record 3"]
    assert any("2022-02-30" in w and "not a real date" in w for w in c.warnings)
    assert [(a.date_source, a.date_confidence) for a in c.articles] == [("json-field", "high"), ("none", "none")]


def test_jsonl_is_read_line_by_line_with_crlf_bom_and_bad_lines(tmp_path):
    good = json.dumps({"title": "One", "text": "First body.", "date": "2022-01-05"})
    (tmp_path / "c.jsonl").write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\r\n\r\n\xff\xfe\n"
                                       + json.dumps({"title": "Two", "text": "Second.", "date": "2022-01-06"}).encode())
    c = load_corpus([tmp_path / "c.jsonl"])
    assert [(a.source, a.title) for a in c.articles] == [("c.jsonl#1", "One"), ("c.jsonl#4", "Two")]
    assert c.skipped == (("c.jsonl line 3", "not UTF-8 text (undecodable byte at position 0); save it as UTF-8"),)


BAD = {
    "empty.txt": (b"", "empty"),
    "blank.txt": (b"  \n\n ", "empty"),
    "latin1.txt": (" date 2021-12-02 Caf\xe9 story\n\nS\xe9ance.".encode("latin-1"), "not UTF-8"),
    "binary.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
    "broken.json": (b'[{"title": "x", "body": "y"', "malformed JSON"),
    "notes.md": (b"# notes", None),  # not a corpus type: silently ignored inside a folder
}


def test_bad_files_are_skipped_with_one_warning_each(tmp_path):
    for name, (data, _) in BAD.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "good.txt").write_text(" date 2021-12-02 Good one\n\nA fine article.")
    (tmp_path / "baddate.txt").write_text(" date 2021-13-45 Bad date\n\nStill worth reading.")
    (tmp_path / "nodate.txt").write_text("No date line here\n\nBut text.")
    locked = tmp_path / "locked.txt"
    locked.write_text(" date 2021-12-02 Locked\n\nSecret.")
    locked.chmod(0)
    c = load_corpus([tmp_path])
    reasons = dict(c.skipped)
    for name, (_, why) in BAD.items():
        if why:
            assert why in reasons[name], (name, reasons)
    if os.geteuid() != 0:  # root reads anything, so only a normal user sees this one
        assert "cannot be read" in reasons["locked.txt"]
    got = {a.source: a.date for a in c.articles}
    assert got["good.txt"] == dt.date(2021, 12, 2)
    assert got["baddate.txt"] is None and got["nodate.txt"] is None
    assert any(w.startswith("baddate.txt") and "2021-13-45" in w for w in c.warnings)
    assert any(w.startswith("nodate.txt") and "unknown date" in w for w in c.warnings)
    assert len([w for w in c.warnings if "empty.txt" in w]) == 1


def test_unreadable_file_named_directly(tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF-1.4")
    c = load_corpus([tmp_path / "x.pdf"])
    assert c.articles == () and "unsupported file type '.pdf'" in dict(c.skipped)["x.pdf"]


def test_the_reader_is_chosen_by_the_whole_ending():
    from rag.corpus import file_kind

    assert [file_kind(n) for n in ("a.TXT", "crawl.warc.gz", "old.ARC.GZ", "x.tar.gz", "feed.atom", "page.htm", "n.md")] \
        == [".txt", ".warc.gz", ".arc.gz", None, ".atom", ".htm", None]


def test_missing_path_is_an_error():
    with pytest.raises(CorpusError, match="no such file or folder: /nope"):
        load_corpus(["/nope"])
