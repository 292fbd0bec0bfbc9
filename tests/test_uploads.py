"""Uploads: checked before anything is written, safely named, indexed at once, all or nothing."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from rag import Index, Settings, UploadRejected, add_uploads, check_upload, index_corpus, safe_filename
from tests.conftest import GUN, SEEDS

NEW_TXT = (" date 2024-03-06 Armorer Hannah Gutierrez-Reed found guilty\n\n"
           "A jury in Santa Fe found the armorer Hannah Gutierrez-Reed guilty of involuntary manslaughter "
           "on Wednesday, for loading the live round that killed Halyna Hutchins on the set of 'Rust'.\n")


@pytest.fixture
def index(tmp_path, hash_embedder) -> Index:
    """seeds/ (copied) indexed with the hash embedder into a throwaway index."""
    corpus = tmp_path / "seeds"
    shutil.copytree(SEEDS, corpus)
    settings = Settings(index=tmp_path / "index", max_upload_bytes=20_000)
    index_corpus([corpus], settings=settings, embedder=hash_embedder)
    return Index.open(settings.index, settings=settings, embedder=hash_embedder)


def _state(index: Index) -> tuple:
    """Everything an upload could change: the live generation, the article list, the saved files."""
    root = index.store.root
    uploads = sorted(p.name for p in (root / "uploads").iterdir()) if (root / "uploads").is_dir() else []
    return (root / "CURRENT").read_text(), sorted(a.source for a in index.articles), uploads


@pytest.mark.parametrize("given, safe", [
    ("report.txt", "report.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\evil.JSON", "evil.json"),
    ("/abs/path/x.jsonl", "x.jsonl"),
    (".hidden.txt", "hidden.txt"),
    ("..txt", "upload.txt"),
    ("Café “Rust” report (final).txt", "Cafe_Rust_report_final.txt"),
    ("a\x00b\nc.txt", "a_b_c.txt"),
    ("x" * 300 + ".txt", "x" * 116 + ".txt"),
])
def test_safe_filename_keeps_names_inside_one_folder(given, safe):
    assert safe_filename(given) == safe
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".")


def test_a_good_upload_is_searchable_at_once(index):
    before = len(index.articles)
    report = add_uploads([("verdict.txt", NEW_TXT.encode())], index=index)
    assert report.saved == ("verdict.txt",)
    assert [(a.source, a.date) for a in report.articles] == [("verdict.txt", dt.date(2024, 3, 6))]
    assert (report.index.added, report.index.removed) == (1, 0)
    assert report.index.embedded_chunks == len([r for r in index.store.rows if index.store.articles[r[0]].source == "verdict.txt"])
    assert len(index.articles) == before + 1  # the Index passed in already sees it
    hits = index.search("armorer found guilty by a jury", k=1)
    assert (hits[0].source, hits[0].date) == ("verdict.txt", dt.date(2024, 3, 6))
    assert (index.store.root / "uploads" / "verdict.txt").read_text() == NEW_TXT
    assert "verdict.txt" in report.summary() and "2024-03-06" in report.summary()


def test_uploads_stay_in_the_index_when_it_is_rebuilt_from_its_recorded_paths(index):
    add_uploads([("verdict.txt", NEW_TXT.encode())], index=index)
    report = index_corpus(settings=index.settings.model_copy(update={"index": index.store.root}), embedder=index.embedder)
    assert (report.removed, report.embedded_chunks) == (0, 0)
    index.refresh()
    assert "verdict.txt" in {a.source for a in index.articles}


def test_a_clash_with_another_articles_name_gets_a_suffix(index):
    seed_text = (SEEDS / GUN).read_text()
    other = NEW_TXT.replace("2024-03-06", "2024-03-07")
    r1 = add_uploads([(GUN, NEW_TXT.encode())], index=index)
    r2 = add_uploads([(f"../{GUN}", other.encode())], index=index)
    stem = GUN.removesuffix(".txt")
    assert (r1.saved, r2.saved) == ((f"{stem}-2.txt",), (f"{stem}-3.txt",))
    assert r1.renamed == ((GUN, f"{stem}-2.txt"),)
    assert (SEEDS / GUN).read_text() == seed_text
    assert index.store.article_by_source(GUN).date == dt.date(2021, 12, 2)  # the seed is still what it was
    assert index.store.article_by_source(f"{stem}-3.txt").date == dt.date(2024, 3, 7)


def test_several_files_at_once_including_a_collection(index):
    records = [{"title": "Verdict", "body": "The armorer was found guilty of involuntary manslaughter.",
                "published_at": "2024-03-06T21:00:00Z", "source": "Example News", "url": "https://example.com/v"},
               {"title": "Sentence", "body": "The armorer was sentenced to eighteen months in prison.",
                "published_at": "2024-04-15", "source": "Example News", "url": "https://example.com/s"}]
    jsonl = "\n".join(json.dumps(r) for r in records).encode()
    report = add_uploads([("rust.jsonl", jsonl), ("verdict.txt", NEW_TXT.encode())], index=index)
    assert report.saved == ("rust.jsonl", "verdict.txt")
    assert {a.source for a in report.articles} == {"rust.jsonl#https://example.com/v", "rust.jsonl#https://example.com/s",
                                                   "verdict.txt"}
    assert index.search("sentenced to eighteen months", k=1, publishers=["Example News"])[0].date == dt.date(2024, 4, 15)


def test_a_file_path_upload_uses_the_files_own_name(index, tmp_path):
    p = tmp_path / "incoming" / "From Disk.txt"
    p.parent.mkdir()
    p.write_text(NEW_TXT)
    assert add_uploads([p], index=index).saved == ("From_Disk.txt",)


UNDATED_PAGE = (b"<html><head><title>Verdict</title></head><body><article><h1>Armorer found guilty</h1><p>"
                 + b"A jury in Santa Fe found the armorer guilty of involuntary manslaughter on Wednesday. " * 4
                 + b"</p></article></body></html>")
DEEP = b"[" * 9_000 + b"]" * 9_000  # far past the depth Python's json can parse, under the 20 kB limit

BAD = [
    ("notes.pdf", b"%PDF-1.4", "unsupported file type '.pdf'"),
    ("archive.tar.gz", b"\x1f\x8b", "unsupported file type '.gz'"),
    ("notes.csv", b"a,b\n1,2\n", "the header names no body, text or content column"),
    ("undated.csv", b"title,body\nVerdict,The armorer was found guilty.\n", "no published_at or date column"),
    ("undated.html", UNDATED_PAGE, "no publication date in the page's metadata or text"),
    ("menu.html", b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "no article text"),
    ("broken.rss", b"<rss><channel><title>X</title><item><title>a", "the feed is damaged"),
    ("junk.warc", b"WARC/1.0\r\nWARC-Type: response\r\n", "not a readable WARC or ARC file"),
    ("deep.json", DEEP, "nested too deeply"),
    ("deep.jsonl", DEEP, "nested too deeply"),
    ("big.txt", b" date 2024-01-01 Big\n" + b"word " * 5000, "is 25 kB; the limit is 20 kB"),
    ("empty.txt", b"  \n", "empty"),
    ("latin1.txt", " date 2024-01-01 Café\n\nUn café à Paris.".encode("latin-1"), "not UTF-8"),
    ("binary.txt", b"\x00\x01\x02 date", "binary"),
    ("nodate.txt", b"Armorer found guilty\n\nA jury found her guilty.", "no ' date YYYY-MM-DD' first line"),
    ("baddate.txt", b" date 2024-02-30 Not a day\n\nText.", "'date 2024-02-30' is not a real date"),
    ("broken.json", b'[{"title": "x", "body": "y", "published_at": "2024-01-01"', "malformed JSON"),
    ("undated.json", json.dumps([{"title": "x", "body": "y"}]).encode(), "no 'published_at' or 'date'"),
    ("bodyless.jsonl", json.dumps({"title": "x", "published_at": "2024-01-01"}).encode(), "no 'body' or 'text'"),
    ("scalar.json", b"42", "neither a list of articles"),
]


@pytest.mark.parametrize("name, data, reason", BAD, ids=[b[0] for b in BAD])
def test_a_bad_upload_is_refused_with_its_reason_and_changes_nothing(index, name, data, reason):
    before = _state(index)
    with pytest.raises(UploadRejected, match="not added|unsupported|limit") as e:
        add_uploads([("fine.txt", NEW_TXT.encode()), (name, data)], index=index)
    assert reason in str(e.value)
    assert safe_filename(name) in str(e.value)
    assert _state(index) == before  # the good file alongside it was not added either


def test_the_same_article_twice_is_refused(index):
    with pytest.raises(UploadRejected, match=f"already in the archive as {GUN}"):
        add_uploads([("again.txt", (SEEDS / GUN).read_bytes())], index=index)


def test_a_failed_indexing_run_removes_the_saved_files(index):
    before = _state(index)
    lock = open(index.store.root / ".lock", "w")  # another writer holds the index
    import fcntl

    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        with pytest.raises(UploadRejected, match="could not be indexed, so nothing was added"):
            add_uploads([("verdict.txt", NEW_TXT.encode())], index=index)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    assert _state(index) == before


def test_an_index_whose_corpus_is_gone_takes_uploads_and_keeps_every_article(index):
    corpus = index.store.manifest["corpus_paths"][0]
    shutil.rmtree(corpus)
    before = {a.source for a in index.articles}
    report = add_uploads([("verdict.txt", NEW_TXT.encode())], index=index)
    assert (report.index.added, report.index.removed, report.index.kept) == (1, 0, len(before))
    assert {a.source for a in index.articles} == before | {"verdict.txt"}


def test_pages_feeds_archives_and_csv_can_be_uploaded(index):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    import io

    page = UNDATED_PAGE.replace(b"<head>", b'<head><meta property="article:published_time" content="2024-03-06T21:00:00Z">'
                                           b'<link rel="canonical" href="https://example.com/verdict">')
    warc = io.BytesIO()
    writer = WARCWriter(warc, gzip=True)
    writer.write_record(writer.create_warc_record(
        "https://example.com/sentence", "response", payload=io.BytesIO(page.replace(b"2024-03-06", b"2024-04-15")),
        http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
        warc_headers_dict={"WARC-Date": "2024-05-01T00:00:00Z"}))
    feed = (b'<rss version="2.0"><channel><title>Court wire</title><item><title>Appeal filed</title>'
            b'<link>https://wire.example/appeal</link><pubDate>Mon, 20 May 2024 10:00:00 GMT</pubDate>'
            b'<description>The armorer filed an appeal against her conviction.</description></item></channel></rss>')
    csv = b"title,body,published_at\nRetrial,The defence asked for a retrial of the armorer.,2024-06-01\n"
    report = add_uploads([("verdict.html", page), ("crawl.warc.gz", warc.getvalue()), ("wire.rss", feed),
                          ("court.csv", csv)], index=index)
    got = {a.source: (a.date, a.date_source) for a in report.articles}
    assert got == {"verdict.html#https://example.com/verdict": (dt.date(2024, 3, 6), "page-metadata"),
                   "crawl.warc.gz#https://example.com/sentence": (dt.date(2024, 4, 15), "page-metadata"),
                   "wire.rss#https://wire.example/appeal": (dt.date(2024, 5, 20), "feed-entry"),
                   "court.csv#2": (dt.date(2024, 6, 1), "csv-field")}
    assert index.search("appeal against her conviction", k=1)[0].source == "wire.rss#https://wire.example/appeal"


def test_check_upload_returns_the_articles(index):
    [a] = check_upload("v.txt", NEW_TXT.encode(), max_bytes=10_000)
    assert (a.source, a.date, a.title) == ("v.txt", dt.date(2024, 3, 6), "Armorer Hannah Gutierrez-Reed found guilty")
