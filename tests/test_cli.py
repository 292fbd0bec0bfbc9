"""The `rag` command line as a user meets it: summaries that say what was kept and removed, `rag remove`,
damaged indexes named, odd bytes in arguments, and article text that must not drive the terminal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from rag.cli import safe_text
from tests.conftest import GUN, ROOT, SEEDS

HASH = {"DATELINE_MODEL": "hash-embedder"}
# An article that tries to retitle the terminal (OSC 0 ... BEL), clear it (CSI 2J) and hide a line (CR, C1 CSI).
HOSTILE = (" date 2024-05-02 Harbour crane\x1b]0;you have been owned\x07 collapses\n\n"
           "A harbour crane collapsed on Tuesday morning.\x1b[2J\x1b[H The port authority said nobody was hurt.\r"
           "\x9b31m Investigators blamed a snapped cable.\n")


def _rag(*args, env=None, cwd=ROOT, text=True):
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=text, cwd=cwd,
                          env=dict(os.environ, **(env or {})), timeout=300)


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "bug in Dateline" not in r.stderr, r.stderr


def _refused(r, needle: str) -> None:
    assert r.returncode == 1 and needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "bug in Dateline" not in r.stderr, r.stderr


def test_safe_text_makes_every_control_character_visible():
    shown = safe_text("a\x1b]0;t\x07b\x9b2Jc\rd\x7fe\udcfff\tg\nh")
    assert shown == "a␛]0;t␇b<9B>2Jc␍d␡e\ufffdf\tg\nh"
    assert not any(ord(c) < 32 and c not in "\t\n" or 0x7F <= ord(c) <= 0x9F for c in shown)


def test_index_summary_says_what_was_kept_and_why_and_remove_takes_articles_out(tmp_path):
    seeds, other, store = tmp_path / "seeds", tmp_path / "other", str(tmp_path / "store")
    shutil.copytree(SEEDS, seeds)
    other.mkdir()
    (other / "bridge.txt").write_text(" date 2022-05-01 Bridge opens\n\nThe council opened the river bridge.")
    _ok(_rag("index", str(seeds), "--index", store, env=HASH))
    r = _rag("index", str(other), "--index", store, env=HASH)
    _ok(r)
    assert "1 added, 0 updated, 0 unchanged, 5 kept, 0 removed" in r.stdout
    assert f"kept 5 articles from {seeds}, not named this time ('--prune' removes them)" in r.stdout
    r = _rag("index", str(other), "--index", store, "--prune", "--json", env=HASH)
    _ok(r)
    summary = json.loads(r.stdout)
    assert (summary["removed"], summary["articles"]) == (5, 1)
    assert summary["reasons"] == [f"removed 5 articles from {seeds}, which was not named (--prune)"]
    r = _rag("remove", "bridge.txt", "--index", store, env=HASH)
    _ok(r)
    assert r.stdout.startswith("removed 1 article from") and "0 articles" in r.stdout
    _refused(_rag("remove", "nothing.txt", "--index", store, env=HASH), "no article 'nothing.txt'")
    r = _rag("remove", "--help")
    assert r.returncode == 0 and "Example:" in r.stdout


def test_missing_paths_warn_and_keep_and_an_all_missing_run_is_refused(tmp_path):
    seeds, store = tmp_path / "seeds", str(tmp_path / "store")
    shutil.copytree(SEEDS, seeds)
    _ok(_rag("index", str(seeds), "--index", store, env=HASH))
    r = _rag("index", str(seeds), str(tmp_path / "typo"), "--index", store, "--prune", env=HASH)
    _ok(r)
    assert f"warning: {tmp_path / 'typo'} does not exist" in r.stderr and "0 removed" in r.stdout
    shutil.rmtree(seeds)
    r = _rag("index", "--index", store, env=HASH)  # the recorded path is gone: its articles stay
    _ok(r)
    assert f"warning: {seeds} does not exist" in r.stderr and "5 kept, 0 removed" in r.stdout
    _refused(_rag("index", str(seeds), "--index", store, env=HASH), "no such file or folder")


def test_an_empty_folder_gives_an_empty_index_that_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    store = str(tmp_path / "store")
    r = _rag("index", str(tmp_path / "empty"), "--index", store, env=HASH)
    _ok(r)
    assert "indexed 0 articles" in r.stdout and "holds no articles" in r.stderr
    r = _rag("ask", "Who handed Alec Baldwin the gun?", "--index", store, env=HASH)
    _ok(r)
    assert r.stdout.strip() == "The articles don't cover this."


@pytest.mark.parametrize("damage", ["manifest-missing-field", "manifest-wrong-type", "current-bytes"])
def test_a_damaged_index_is_named_and_rebuild_repairs_it(tmp_path, damage):
    store = tmp_path / "store"
    _ok(_rag("index", str(SEEDS), "--index", str(store), env=HASH))
    gen = store / (store / "CURRENT").read_text().strip()
    m = json.loads((gen / "manifest.json").read_text())
    if damage == "current-bytes":
        (store / "CURRENT").write_bytes(b"gen-\xff\xfe\x00\n")
        named = store / "CURRENT"
    else:
        m.pop("index_kind") if damage == "manifest-missing-field" else m.update(files={"index.faiss": "big"})
        (gen / "manifest.json").write_text(json.dumps(m))
        named = gen / "manifest.json"
    for args in (("search", "gun"), ("ask", "Who handed Alec Baldwin the gun?"), ("index",)):
        _refused(_rag(*args, "--index", str(store), env=HASH), f"index file {named} is damaged")
    r = _rag("index", "--rebuild", "--index", str(store), env=HASH)
    _ok(r)
    assert "indexed 5 articles" in r.stdout  # from the recorded paths, not from wherever the default points
    _ok(_rag("search", "gun", "--index", str(store), env=HASH))


@pytest.mark.model
def test_undecodable_bytes_in_a_question_and_escape_sequences_in_an_article(tmp_path):
    """Real model: its tokenizer is what raised on invalid UTF-8. Terminal output shows control characters
    as pictures; JSON output escapes them."""
    corpus = tmp_path / "c"
    shutil.copytree(SEEDS, corpus)
    (corpus / "crane.txt").write_text(HOSTILE)
    store = str(tmp_path / "store")
    _ok(_rag("index", str(corpus), "--index", store))
    r = _rag("ask", b"Who handed \xff\xfe Baldwin the gun?", "--index", store, text=False)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert GUN.encode() in r.stdout
    for args in (("search", "harbour crane collapsed", "-k", "1"), ("ask", "Why did the harbour crane collapse?")):
        r = _rag(*args, "--index", store, text=False)
        assert r.returncode == 0, r.stderr
        assert b"crane.txt" in r.stdout
        assert not any(b in r.stdout for b in (b"\x1b", b"\x07", b"\r", b"\xc2\x9b")), r.stdout
        assert "␛".encode() in r.stdout
    r = _rag("search", "harbour crane collapsed", "-k", "1", "--json", "--index", store)
    hit = json.loads(r.stdout)[0]
    assert "\x1b[2J" in hit["text"] and "\x1b" not in r.stdout and "\x9b" not in r.stdout
