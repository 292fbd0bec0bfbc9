"""Reliability: re-indexing never drops articles unasked, date windows before 1970 and without dates,
one generation per search, an empty corpus, wrong types and odd characters in the public API, IPv6 serving."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket

import pytest

from rag import (
    REFUSAL, Article, ChunkingConfig, Corpus, CorpusError, HashEmbedder, Index, InvalidQuery, Settings, Store,
    add_uploads, answer, index_corpus, retrieve,
)
from rag.indexing import remove_articles
from rag.faisswrite import build_index
from tests.conftest import GUN, SEEDS

NEW_TXT = b" date 2024-03-06 Armorer found guilty\n\nA jury found the armorer guilty of involuntary manslaughter."


def _article(name: str, date: str | None, text: str) -> str:
    return (f" date {date} {text.split('.')[0]}\n\n{text}\n" if date else f"{text}\n")


@pytest.fixture
def two_folders(tmp_path):
    """seeds/ (copied) and a second folder of two articles, with a hash-embedder index setting."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    other = tmp_path / "other"
    other.mkdir()
    (other / "bridge.txt").write_text(_article("bridge", "2022-05-01", "The council opened the river bridge."))
    (other / "dam.txt").write_text(_article("dam", "2022-06-01", "The council closed the old dam for repairs."))
    return seeds, other, Settings(index=tmp_path / "index")


def _sources(settings: Settings) -> set[str]:
    return {a.source for a in Store.open(settings.index).articles}


# -- removing is always explicit ------------------------------------------------------------------------------

def test_indexing_one_path_keeps_the_articles_of_another_and_says_so(two_folders, hash_embedder):
    seeds, other, s = two_folders
    index_corpus([seeds], settings=s, embedder=hash_embedder)
    r = index_corpus([other], settings=s, embedder=hash_embedder)
    assert (r.added, r.kept, r.removed, r.articles) == (2, 5, 0, 7)
    assert r.reasons == (f"kept 5 articles from {seeds}, not named this time ('--prune' removes them)",)
    assert _sources(s) == {p.name for p in SEEDS.iterdir()} | {"bridge.txt", "dam.txt"}
    # and no path needs naming again: without paths, every recorded path is read
    again = index_corpus(settings=s, embedder=hash_embedder)
    assert (again.unchanged, again.kept, again.embedded_chunks) == (7, 0, 0)


def test_a_file_gone_from_a_named_path_stays_until_prune(two_folders, hash_embedder):
    seeds, other, s = two_folders
    index_corpus([seeds, other], settings=s, embedder=hash_embedder)
    (other / "dam.txt").unlink()
    r = index_corpus([seeds, other], settings=s, embedder=hash_embedder)
    assert (r.kept, r.removed) == (1, 0) and "dam.txt" in _sources(s)
    assert r.reasons == (f"kept 1 article no longer found in {other} ('--prune' removes them)",)
    r = index_corpus([seeds, other], settings=s, embedder=hash_embedder, prune=True)
    assert (r.kept, r.removed, r.embedded_chunks) == (0, 1, 0) and "dam.txt" not in _sources(s)
    assert r.reasons == (f"removed 1 article no longer found in {other} (--prune)",)


def test_prune_drops_paths_not_named_and_forgets_them(two_folders, hash_embedder):
    seeds, other, s = two_folders
    index_corpus([seeds, other], settings=s, embedder=hash_embedder)
    r = index_corpus([other], settings=s, embedder=hash_embedder, prune=True)
    assert (r.removed, r.articles) == (5, 2)
    assert r.reasons == (f"removed 5 articles from {seeds}, which was not named (--prune)",)
    assert Store.open(s.index).manifest["corpus_paths"] == [str(other)]


def test_uploads_survive_indexing_the_corpus_again_even_with_prune(two_folders, hash_embedder):
    """The README's own `rag index seeds/` used to remove every uploaded article."""
    seeds, _, s = two_folders
    index_corpus([seeds], settings=s, embedder=hash_embedder)
    add_uploads([("verdict.txt", NEW_TXT)], index=Index.open(s.index, settings=s, embedder=hash_embedder))
    for prune in (False, True):
        r = index_corpus([seeds], settings=s, embedder=hash_embedder, prune=prune)
        assert (r.kept, r.removed) == (1, 0) and "verdict.txt" in _sources(s)
        assert r.reasons == ("kept 1 uploaded article (remove one with 'rag remove NAME')",)
    r = index_corpus(settings=s, embedder=hash_embedder, rebuild=True)  # recorded paths and uploads, all embedded
    assert (r.articles, r.removed, r.embedded_chunks) == (6, 0, r.chunks) and "verdict.txt" in _sources(s)


def test_remove_takes_an_upload_out_for_good_and_keeps_its_file(two_folders, hash_embedder):
    seeds, _, s = two_folders
    index_corpus([seeds], settings=s, embedder=hash_embedder)
    add_uploads([("verdict.txt", NEW_TXT)], index=Index.open(s.index, settings=s, embedder=hash_embedder))
    r = remove_articles(["verdict.txt"], settings=s, embedder=hash_embedder)
    assert (r.removed, r.articles, r.reasons) == (1, 5, ("removed 1 article as asked",))
    assert (s.index / "uploads" / ".removed" / "verdict.txt").read_bytes() == NEW_TXT
    assert not (s.index / "uploads" / "verdict.txt").exists()
    index_corpus(settings=s, embedder=hash_embedder)  # everything recorded, uploads included, read again
    assert "verdict.txt" not in _sources(s)


def test_remove_by_name_by_path_and_refusals_that_change_nothing(two_folders, hash_embedder):
    seeds, other, s = two_folders
    index_corpus([seeds, other], settings=s, embedder=hash_embedder)
    current = (s.index / "CURRENT").read_text()
    with pytest.raises(CorpusError, match="no article 'nope.txt'.*nothing was removed"):
        remove_articles([GUN, "nope.txt"], settings=s, embedder=hash_embedder)
    assert (s.index / "CURRENT").read_text() == current and GUN in _sources(s)
    r = remove_articles([GUN], settings=s, embedder=hash_embedder)
    assert r.removed == 1 and GUN not in _sources(s) and (seeds / GUN).exists()
    r = remove_articles([str(other)], settings=s, embedder=hash_embedder)
    assert r.removed == 2 and Store.open(s.index).manifest["corpus_paths"] == [str(seeds)]
    jsonl = b'{"title": "a", "body": "One.", "date": "2024-01-01"}\n{"title": "b", "body": "Two.", "date": "2024-01-02"}'
    add_uploads([("two.jsonl", jsonl)], index=Index.open(s.index, settings=s, embedder=hash_embedder))
    with pytest.raises(CorpusError, match="uploaded collection .* remove the whole file"):
        remove_articles(["two.jsonl#1"], settings=s, embedder=hash_embedder)
    assert remove_articles(["two.jsonl"], settings=s, embedder=hash_embedder).removed == 2


def test_a_missing_path_is_a_warning_and_its_articles_stay(two_folders, hash_embedder):
    seeds, other, s = two_folders
    index_corpus([seeds, other], settings=s, embedder=hash_embedder)
    shutil.rmtree(other)
    r = index_corpus([seeds, other], settings=s, embedder=hash_embedder, prune=True)
    assert any(str(other) in w and "does not exist" in w for w in r.warnings)
    assert (r.kept, r.removed) == (2, 0) and {"bridge.txt", "dam.txt"} <= _sources(s)
    assert r.reasons == (f"kept 2 articles from {other}, which is missing",)
    r = index_corpus(settings=s, embedder=hash_embedder)  # the recorded paths, one of them missing
    assert r.kept == 2 and any(str(other) in w for w in r.warnings)
    # every named path missing: an error, and the index is left as it was
    current = (s.index / "CURRENT").read_text()
    with pytest.raises(CorpusError, match="no such file or folder.*unchanged"):
        index_corpus([other, other.parent / "typo"], settings=s, embedder=hash_embedder)
    assert (s.index / "CURRENT").read_text() == current


def test_rebuild_uses_the_recorded_paths_even_when_the_manifest_is_damaged(two_folders, hash_embedder):
    seeds, other, s = two_folders
    index_corpus([seeds, other], settings=s, embedder=hash_embedder)
    add_uploads([("verdict.txt", NEW_TXT)], index=Index.open(s.index, settings=s, embedder=hash_embedder))
    before = _sources(s)
    manifest = Store.open(s.index).generation / "manifest.json"
    manifest.write_text('{"format_version": 1, "files": {}}')
    r = index_corpus(settings=s, embedder=hash_embedder, rebuild=True)  # the paths come from SOURCES
    assert _sources(s) == before and r.articles == len(before)
    assert any("could not be read" in w for w in r.warnings)
    # with SOURCES gone too, nothing records the paths: say so rather than rebuild from seeds/
    manifest = Store.open(s.index).generation / "manifest.json"
    manifest.write_text("{}")
    (s.index / "SOURCES").unlink()
    with pytest.raises(CorpusError, match="does not record the paths"):
        index_corpus(settings=s, embedder=hash_embedder, rebuild=True)


def test_rebuild_keeps_the_articles_of_a_path_that_is_gone(two_folders, hash_embedder):
    seeds, other, s = two_folders
    index_corpus([seeds, other], settings=s, embedder=hash_embedder)
    shutil.rmtree(other)
    r = index_corpus(settings=s, embedder=hash_embedder, rebuild=True)
    assert (r.kept, r.articles, r.embedded_chunks) == (2, 7, r.chunks)


def test_the_same_name_from_another_path_does_not_replace_an_indexed_article(two_folders, hash_embedder, tmp_path):
    seeds, _, s = two_folders
    index_corpus([seeds], settings=s, embedder=hash_embedder)
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / GUN).write_text(_article(GUN, "2030-01-01", "A different story with the same file name."))
    r = index_corpus([clash], settings=s, embedder=hash_embedder)
    assert r.added == 0 and any(f"skipped {GUN}" in w for w in r.warnings)
    assert Store.open(s.index).article_by_source(GUN).date == dt.date(2021, 12, 2)


def test_an_index_from_before_origins_were_recorded_still_keeps_uploads(two_folders, hash_embedder):
    seeds, other, s = two_folders
    index_corpus([seeds], settings=s, embedder=hash_embedder)
    add_uploads([("verdict.txt", NEW_TXT)], index=Index.open(s.index, settings=s, embedder=hash_embedder))
    mpath = Store.open(s.index).generation / "manifest.json"
    m = json.loads(mpath.read_text())
    del m["origins"]
    m["corpus_paths"] = [str(seeds), str((s.index / "uploads").resolve())]  # how uploads used to be recorded
    mpath.write_text(json.dumps(m))
    r = index_corpus([seeds], settings=s, embedder=hash_embedder, prune=True)
    assert (r.removed, r.kept) == (0, 1) and "verdict.txt" in _sources(s)


def test_an_empty_corpus_makes_an_empty_index_that_answers_plainly(tmp_path, hash_embedder):
    (tmp_path / "empty").mkdir()
    s = Settings(index=tmp_path / "index")
    r = index_corpus([tmp_path / "empty"], settings=s, embedder=hash_embedder)
    assert (r.articles, r.chunks) == (0, 0) and any("holds no articles" in w for w in r.warnings)
    idx = Index.open(s.index, settings=s, embedder=hash_embedder)
    assert idx.search("Who handed Alec Baldwin the gun?") == []
    assert idx.search("gun", since="2020-01-01") == []
    a = answer("Who handed Alec Baldwin the gun?", index=idx, settings=s)
    assert a.refused and a.text == REFUSAL and not a.citations
    # and articles can be added to it afterwards
    add_uploads([("verdict.txt", NEW_TXT)], index=idx)
    assert idx.search("armorer guilty", k=1)[0].source == "verdict.txt"


# -- date windows: before 1970, and articles without a date -----------------------------------------------------

@pytest.fixture
def dated(tmp_path, hash_embedder) -> Index:
    d = tmp_path / "c"
    d.mkdir()
    for name, date in [("1912.txt", "1912-04-15"), ("1969.txt", "1969-07-20"), ("1970.txt", "1970-01-01"),
                       ("2021.txt", "2021-12-02"), ("undated.txt", None)]:
        (d / name).write_text(_article(name, date, f"A report about the ship and the moon, number {name}."))
    s = Settings(index=tmp_path / "index")
    index_corpus([d], settings=s, embedder=hash_embedder)
    return Index.open(s.index, settings=s, embedder=hash_embedder)


@pytest.mark.parametrize("since, until, expected", [
    (None, "1969-12-31", {"1912.txt", "1969.txt"}),
    (None, "1970-01-01", {"1912.txt", "1969.txt", "1970.txt"}),
    ("1900-01-01", None, {"1912.txt", "1969.txt", "1970.txt", "2021.txt"}),
    ("1913-01-01", "1969-12-31", {"1969.txt"}),
    ("1000-01-01", "9999-12-31", {"1912.txt", "1969.txt", "1970.txt", "2021.txt"}),
    (None, None, {"1912.txt", "1969.txt", "1970.txt", "2021.txt", "undated.txt"}),
])
def test_windows_before_1970_and_undated_articles(dated, since, until, expected):
    """Days before 1970 are negative, not 'unknown'; an undated article is in no window (README)."""
    hits = dated.search("report about the ship", k=20, since=since, until=until)
    assert {h.source for h in hits} == expected


# -- one search reads one generation --------------------------------------------------------------------------

class _RefreshWhileEncoding:
    """An embedder that, once, makes the index reload a newer generation in the middle of a search."""

    def __init__(self, inner):
        self.inner, self.index = inner, None
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens

    def count_tokens(self, texts):
        return self.inner.count_tokens(texts)

    def token_ends(self, text):
        return self.inner.token_ends(text)

    def encode(self, texts, **kw):
        if self.index is not None:
            idx, self.index = self.index, None
            assert idx.refresh()
        return self.inner.encode(texts, **kw)


def _stories(year: int, n: int, start: int = 0) -> Corpus:
    return Corpus(tuple(Article(f"{year}-{i}", f"{year}-{i:02}.txt", f"Story {i} of {year}", dt.date(year, 1, 1 + i),
                                f"Story {i} of {year} about the harbour. " + " ".join(f"w{year}x{i}y{j}" for j in range(30)))
                        for i in range(start, start + n)))


def test_a_refresh_during_a_search_does_not_mix_two_generations(tmp_path):
    emb = HashEmbedder()
    root = tmp_path / "index"
    build_index(_stories(2020, 6), root, emb, ChunkingConfig(32, 0))
    idx = Index(Store.open(root), _RefreshWhileEncoding(emb), Settings(index=root))
    old = idx.store
    # the next generation holds other articles, so the old chunk ids now name 2023 stories
    build_index(_stories(2023, 9), root, emb, ChunkingConfig(32, 0), prune=True)
    idx.embedder.index = idx
    hits = idx.search("story about the harbour", k=5, since="2020-01-01", until="2020-12-31")
    assert idx.store is not old  # the refresh did happen, mid-search
    assert hits and all(h.date.year == 2020 for h in hits)
    for h in hits:
        assert old.article_by_source(h.source).text[h.start : h.end] == h.text


# -- wrong types and odd characters in the public API ---------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    ({"k": True}, "k"), ({"k": 2.0}, "k"), ({"k": "3"}, "k"), ({"k": 0}, "k"), ({"k": 10**9}, "k"), ({"k": None}, "k"),
    ({"since": 20211202}, "since"), ({"until": ["2021-12-02"]}, "until"), ({"since": b"2021-12-02"}, "since"),
    ({"since": "2021-02-30"}, "since"), ({"index": 5}, "index"), ({"settings": "fast"}, "settings"),
])
def test_wrong_types_in_retrieve_are_named(kwargs, name):
    with pytest.raises(InvalidQuery, match=rf"^{name} must"):
        retrieve("Who handed Alec Baldwin the gun?", **kwargs)


@pytest.mark.parametrize("kwargs, name", [
    ({"sources": GUN}, "sources"), ({"sources": 5}, "sources"), ({"sources": [GUN, 7]}, "sources"),
    ({"publishers": "Reuters"}, "publishers"), ({"publishers": [None]}, "publishers"), ({"k": False}, "k"),
])
def test_wrong_types_in_index_search_are_named(dated, kwargs, name):
    with pytest.raises(InvalidQuery, match=rf"^{name} must"):
        dated.search("ship", **kwargs)


@pytest.mark.model
@pytest.mark.parametrize("question", [
    "Who handed \ud800 Baldwin the gun?",  # a lone surrogate from Python
    b"Who handed \xff\xfe Baldwin the gun?".decode("utf-8", "surrogateescape"),  # how a command line hands it over
    "Who handed\x00 Baldwin\x1b[2J the gun?\x07",
])
def test_a_questions_own_characters_never_make_it_raise(seed_index, question):
    hits = retrieve(question, k=3, index=seed_index)
    assert hits[0].source == GUN
    a = answer(question, index=seed_index)
    assert "\ud800" not in a.question and "\udcff" not in a.question and "\x1b" not in a.question
    json.dumps(a.to_dict()).encode("utf-8")  # printable and encodable


# -- rag serve on IPv6 ----------------------------------------------------------------------------------------

def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
@pytest.mark.parametrize("host", ["::1", "[::1]", "::"])
def test_serve_on_an_ipv6_host(tmp_path, hash_embedder, host, monkeypatch):
    import httpx

    from ui.app import access, serve

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "incoming"))  # serve() would set it for good otherwise

    index_corpus([SEEDS], settings=Settings(index=tmp_path / "index"), embedder=hash_embedder)
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    settings = Settings(index=tmp_path / "index", host=host, port=port, auth=None if host != "::" else "a:b")
    assert access(settings.model_copy(update={"auth": None}))[1] is None or host == "::"  # ::1 is loopback: no warning
    demo, url = serve(settings, index=Index.open(settings.index, settings=settings, embedder=hash_embedder), block=False)
    try:
        assert url.startswith("http://[::")
        r = httpx.get(f"http://[::1]:{port}/", timeout=30)
        assert r.status_code in (200, 401, 302)
    finally:
        demo.close()

