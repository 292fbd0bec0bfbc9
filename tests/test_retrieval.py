"""Retrieval with the real model on seeds/: the right passage first, filters, incremental re-index, the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from rag import Hit, Index, InvalidQuery, Settings, index_corpus, retrieve
from tests.conftest import GUN, ROOT, SEEDS


def test_gun_question_finds_the_interview_first(seed_index):
    hits = retrieve("Who handed Alec Baldwin the gun?", k=5, index=seed_index)
    assert len(hits) == 5
    top = hits[0]
    assert (top.source, top.date) == (GUN, dt.date(2021, 12, 2))
    assert "Dave Halls handed him the prop weapon" in top.text
    assert top.title == "Alec Baldwin Says He Would Do Anything to Undo ‘Rust’ Tragedy"
    article = (SEEDS / GUN).read_text().split(" ", 3)[3]  # the file without its " date YYYY-MM-DD " prefix
    assert article[top.start : top.end] == top.text
    with pytest.raises(dataclasses.FrozenInstanceError):
        top.score = 1.0  # type: ignore[misc]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_date_filters_apply_before_top_k(seed_index):
    hits = retrieve("Who handed Alec Baldwin the gun?", k=5, since="2021-12-20", until=dt.date(2022, 1, 31), index=seed_index)
    assert len(hits) == 5  # two articles in range hold 8 chunks: k results, all in range
    assert {h.source for h in hits} == {"000_e92e8a6dc09ab106.txt", "001_c4fdab69a0ffd4c7.txt"}
    assert all(dt.date(2021, 12, 20) <= h.date <= dt.date(2022, 1, 31) for h in hits)
    assert retrieve("charged", k=3, since="2023-01-01", index=seed_index)[0].date == dt.date(2023, 1, 31)
    assert retrieve("gun", k=3, since="2024-01-01", index=seed_index) == []


@pytest.mark.parametrize("kw, msg", [({"since": "yesterday"}, "since must be a date"),
                                     ({"since": "2022-02-01", "until": "2022-01-01"}, "is after until"),
                                     ({"k": 0}, "k must be")])
def test_bad_filters_are_named(seed_index, kw, msg):
    with pytest.raises(InvalidQuery, match=msg):
        retrieve("gun", index=seed_index, **kw)


def test_index_object_is_loaded_once_and_reused(seed_index, real_embedder):
    idx = Index.open(seed_index, embedder=real_embedder)
    a = idx.search("Who handed Alec Baldwin the gun?", k=3)
    assert a == idx.search("Who handed Alec Baldwin the gun?", k=3)
    assert all(isinstance(h, Hit) for h in a)
    from rag.retrieval import _open_cached

    retrieve("gun", index=seed_index)
    misses = _open_cached.cache_info().misses
    retrieve("trigger", index=seed_index)
    assert _open_cached.cache_info().misses == misses


def test_reindexing_unchanged_seeds_embeds_nothing(tmp_path, seeds_copy, real_embedder):
    s = Settings(index=tmp_path / "store")
    first = index_corpus([seeds_copy], settings=s, embedder=real_embedder)
    assert first.embedded_chunks == first.chunks > 0 and first.articles == 5
    again = index_corpus([seeds_copy], settings=s, embedder=real_embedder)
    assert (again.embedded_chunks, again.unchanged, again.chunks) == (0, 5, first.chunks)
    (seeds_copy / "005_new.txt").write_text(" date 2023-02-01 A new report\n\nThe armourer was charged too.")
    third = index_corpus(None, settings=s, embedder=real_embedder)  # no paths: the ones recorded
    assert (third.added, third.unchanged, third.embedded_chunks) == (1, 5, 1)


def _rag(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, **(env or {})), timeout=300)


def test_cli_end_to_end(tmp_path):
    store = str(tmp_path / "store")
    r = _rag("index", str(SEEDS), "--index", store, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["articles"] == 5 and summary["embedded_chunks"] == summary["chunks"] > 0 and summary["skipped"] == []

    r = _rag("search", "Who handed Alec Baldwin the gun?", "-k", "2", "--index", store)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("1. ") and GUN in first and "2021-12-02" in first
    assert "Alec Baldwin Says He Would Do Anything" in r.stdout

    r = _rag("search", "gun", "--json", "--since", "2023-01-01", "--index", store)
    hits = json.loads(r.stdout)
    assert hits and all(h["date"] >= "2023-01-01" for h in hits)

    r = _rag("index", str(SEEDS), "--index", store, "--json")
    assert json.loads(r.stdout)["embedded_chunks"] == 0

    for args, needle in [(("search", "  ", "--index", store), "the question is empty"),
                         (("search", "gun", "--since", "soon", "--index", store), "since must be a date"),
                         (("search", "gun", "--index", str(tmp_path / "none")), "no index at"),
                         (("index", "/does/not/exist", "--index", store), "no such file or folder")]:
        r = _rag(*args)
        assert r.returncode != 0 and needle in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)

    for cmd in ("index", "search"):
        r = _rag(cmd, "--help")
        assert r.returncode == 0 and "Example:" in r.stdout


def test_cli_reports_bad_files_and_keeps_going(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "ok.txt").write_text(" date 2022-01-01 Fine\n\nA short article.")
    (tmp_path / "c" / "bad.txt").write_bytes(b"\xff\xfe\x00\x01")
    r = _rag("index", str(tmp_path / "c"), "--index", str(tmp_path / "s"), "--json", env={"DATELINE_MODEL": "hash-embedder"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["skipped"] == [{"file": "bad.txt", "reason": "binary file, not text"}]
    assert "warning: skipped bad.txt: binary file, not text" in r.stderr
