"""Archive formats: web pages, RSS/Atom feeds, WARC archives and CSV, each with its true publication date.

Every file is written by the test (WARCs with warcio's own writer), except a
sample of real news pages from ../shared/bench/news-html with hand-labelled dates.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import subprocess
import sys

import pytest

from rag import DATE_SOURCES, Index, Settings, index_corpus, load_corpus
from rag.readers.base import MAX_ARTICLE_BYTES, MAX_FILE_BYTES, MAX_RECORD_BYTES
from tests.conftest import ROOT

NEWS_HTML = ROOT.parent / "shared" / "bench" / "news-html"

BODY = ("The city council voted seven to two on Thursday to fund the new river bridge. "
        "Construction is due to start in the spring and to take two years. ")


def page(title: str, *, published: str | None = None, canonical: str | None = None, body: str = BODY * 4,
         extra_head: str = "") -> str:
    """A small news page: headline, optional publication time in its metadata, canonical link, a few paragraphs."""
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    paras = "".join(f"<p>{body} ({n})</p>" for n in range(3))
    return (f"<!doctype html><html><head><title>{title} | River Gazette</title>{meta}{link}"
            f'<meta property="og:site_name" content="River Gazette">{extra_head}</head>'
            f"<body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article><h1>{title}</h1>{paras}"
            f"</article><footer>Copyright 2009 River Gazette</footer></body></html>")


# -- web pages -------------------------------------------------------------------------------------------------
def test_a_saved_page_gives_text_headline_publisher_url_and_its_metadata_date(tmp_path):
    p = tmp_path / "bridge.html"
    p.write_text(page("Council funds the bridge", published="2021-03-04T09:30:00+01:00",
                      canonical="https://gazette.example/news/bridge"))
    os.utime(p, (1_700_000_000, 1_700_000_000))  # the file's own time (2023-11-14) must never become the date
    [a] = load_corpus([p]).articles
    assert a.source == "bridge.html#https://gazette.example/news/bridge"
    assert (a.url, a.publisher, a.title) == ("https://gazette.example/news/bridge", "River Gazette", "Council funds the bridge")
    assert (a.date, a.date_source, a.date_confidence) == (dt.date(2021, 3, 4), "page-metadata", "high")
    assert "voted seven to two" in a.text and "Home" not in a.text and "Copyright" not in a.text


def test_a_page_without_a_trustworthy_date_is_undated_with_a_warning(tmp_path):
    p = tmp_path / "undated.html"
    p.write_text(page("Council funds the bridge"))  # only the footer's year: not a publication date
    os.utime(p, (1_700_000_000, 1_700_000_000))
    c = load_corpus([p])
    [a] = c.articles
    assert (a.date, a.date_source, a.date_confidence) == (None, "none", "none")
    assert c.warnings == ("undated.html: only a year (2009) is given; indexed with an unknown date",)


def test_a_living_page_updated_years_later_is_undated_and_keeps_its_update_apart(tmp_path):
    p = tmp_path / "wiki.html"
    p.write_text(page("Park profile", published="2005-07-26T16:22:26-07:00",
                      extra_head='<meta property="article:modified_time" content="2020-04-07T12:33:32-07:00">'))
    c = load_corpus([p])
    [a] = c.articles
    assert (a.date, a.updated) == (None, dt.date(2020, 4, 7))
    assert "first published 2005-07-26 but updated 2020-04-07" in c.warnings[0]


def test_an_article_corrected_two_years_later_keeps_its_publication_date_and_the_update_apart(tmp_path):
    p = tmp_path / "corrected.html"
    p.write_text(page("Council funds the bridge", published="2016-06-23T16:14:51+02:00",
                      extra_head='<meta property="article:modified_time" content="2019-06-24T09:00:00+02:00">'))
    c = load_corpus([p])
    [a] = c.articles
    assert (a.date, a.date_source, a.updated) == (dt.date(2016, 6, 23), "page-metadata", dt.date(2019, 6, 24))
    assert c.warnings == ()


def test_a_date_printed_in_the_text_is_used_when_the_page_has_no_metadata(tmp_path):
    p = tmp_path / "byline.html"
    p.write_text(page("Council funds the bridge", body=BODY).replace("<h1>", "<p>Published 12 March 2021</p><h1>"))
    [a] = load_corpus([p]).articles
    assert (a.date, a.date_source, a.date_confidence) == (dt.date(2021, 3, 12), "byline", "medium")


@pytest.mark.parametrize("name, data, reason", [
    ("menu.html", b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "no article text"),
    ("empty.html", b"   ", "empty"),
    ("huge.html", b"<p>" + b"x" * (MAX_ARTICLE_BYTES + 1), "over the 8 MiB limit"),
])
def test_a_page_with_no_article_is_skipped_with_its_reason(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    (tmp_path / "good.html").write_text(page("Fine", published="2021-03-04"))
    c = load_corpus([tmp_path])
    assert [a.title for a in c.articles] == ["Fine"]
    assert reason in dict(c.skipped)[name]


@pytest.mark.parametrize("published, url_day, expected, source", [
    # 02:18 UTC is the evening before in the Americas, and the publisher's URL names that evening's day
    ("2020-02-18T02:18:11Z", "2020/02/17", dt.date(2020, 2, 17), "url"),
    ("2020-12-05T23:15:00Z", "2020/12/06", dt.date(2020, 12, 6), "url"),  # east of Greenwich: already the 6th
    ("2020-02-18T02:18:11Z", "2020/02/18", dt.date(2020, 2, 18), "page-metadata"),  # the URL agrees
    ("2020-07-09T10:04:04Z", "2020/07/08", dt.date(2020, 7, 9), "page-metadata"),  # mid-morning: no zone's yesterday
    ("2020-02-18T02:18:11-05:00", "2020/02/17", dt.date(2020, 2, 18), "page-metadata"),  # its own zone: its own day
    ("2020-02-18T23:40:00Z", "2020/02/17", dt.date(2020, 2, 18), "page-metadata"),  # late: never the day before
    ("2020-02-18T06:00:00Z", "2020/02/17", dt.date(2020, 2, 18), "page-metadata"),  # 06:00 is not near midnight
    ("2020-02-18T18:00:00Z", "2020/02/19", dt.date(2020, 2, 19), "url"),  # 18:00 is
    ("2020-02-18T02:18:11Z", "2020/02/16", dt.date(2020, 2, 18), "page-metadata"),  # two days off: not the zone
])
def test_a_utc_time_near_midnight_defers_to_the_day_in_the_url(tmp_path, published, url_day, expected, source):
    p = tmp_path / "late.html"
    p.write_text(page("Late vote", published=published, canonical=f"https://gazette.example/{url_day}/late-vote"))
    [a] = load_corpus([p]).articles
    assert (a.date, a.date_source) == (expected, source)


def test_the_url_day_is_never_after_the_page_was_archived():
    from rag.readers.pages import page_date

    html = page("Late vote", published="2020-12-05T23:15:00Z")
    url = "https://gazette.example/2020/12/06/late-vote"
    assert page_date(html, url).date == dt.date(2020, 12, 6)
    assert page_date(html, url, max_date=dt.date(2020, 12, 5)).date == dt.date(2020, 12, 5)


def test_a_page_that_looks_like_a_url_is_never_fetched():
    from rag.readers.pages import page_date

    # htmldate downloads a str that looks like a URL (and raises when it cannot): the reader must never let it
    assert page_date("http://127.0.0.1:9/never-fetch-this", None).date is None


def test_pages_in_other_encodings_are_decoded(tmp_path):
    text = page("Кабмин утвердил бюджет", published="2021-03-04", body="Правительство утвердило бюджет на год. " * 8)
    (tmp_path / "ru.html").write_bytes(text.replace("<head>", '<head><meta charset="windows-1251">').encode("cp1251"))
    [a] = load_corpus([tmp_path]).articles
    assert a.title == "Кабмин утвердил бюджет" and "Правительство утвердило бюджет" in a.text


# (page id, labelled publication date, where the date should come from) -- hand-labelled real pages
REAL = [("1484494308", "2020-01-02", "page-metadata"), ("1500260110", "2020-01-21", "page-metadata"),
        ("1549542851", "2020-03-16", "page-metadata"), ("1623715966", "2020-06-03", "page-metadata"),
        ("1777110076", "2020-11-22", "byline")]


@pytest.mark.skipif(not NEWS_HTML.is_dir(), reason="../shared/bench/news-html is not beside this checkout")
def test_real_news_pages_get_their_labelled_publication_dates(tmp_path):
    labels = json.loads((NEWS_HTML / "labels.json").read_text())
    for pid, _, _ in REAL:
        (tmp_path / f"{pid}.html").write_bytes((NEWS_HTML / "pages" / f"{pid}.html").read_bytes())
    c = load_corpus([tmp_path])
    got = {a.source.split("#")[0]: a for a in c.articles}
    for pid, day, source in REAL:
        a = got[f"{pid}.html"]
        assert labels[f"{pid}.html"]["published"] == day
        assert (a.date.isoformat(), a.date_source) == (day, source), pid
        assert a.url and a.source == f"{pid}.html#{a.url}" and a.title and len(a.text) > 300
    assert got["1549542851.html"].publisher == "National Post"
    assert c.skipped == ()


# -- feeds -----------------------------------------------------------------------------------------------------
RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>River Gazette</title><link>https://gazette.example/</link>
<item><title>Council approves the bridge</title><link>https://gazette.example/bridge</link>
 <pubDate>Thu, 09 Jul 2020 23:30:00 -0400</pubDate><author>desk@gazette.example (Ann Lee)</author>
 <description>Council says yes.</description>
 <content:encoded><![CDATA[<p>The council voted 7-2 to fund the bridge.</p><p>Work starts in spring.</p>]]></content:encoded></item>
<item><title>Mayor resigns</title><link>https://gazette.example/mayor</link>
 <pubDate>Sun, 12 Jul 2020 08:00:00 GMT</pubDate><description>&lt;p&gt;The mayor resigned on Sunday.&lt;/p&gt;</description></item>
<item><title>Floods</title><link>https://gazette.example/2020/07/14/floods</link>
 <description>Rivers rose after the storm.</description></item>
</channel></rss>"""


def test_a_feed_gives_one_article_per_entry_dated_by_the_entry(tmp_path):
    (tmp_path / "gazette.rss").write_text(RSS)
    c = load_corpus([tmp_path])
    by = {a.title: a for a in c.articles}
    full, summary, undated = by["Council approves the bridge"], by["Mayor resigns"], by["Floods"]
    assert full.source == "gazette.rss#https://gazette.example/bridge" and full.publisher == "River Gazette"
    # the day as the publisher wrote it: 23:30 in New York, not the next day in UTC
    assert (full.date, full.date_source, full.date_confidence) == (dt.date(2020, 7, 9), "feed-entry", "high")
    assert full.text == "The council voted 7-2 to fund the bridge.\nWork starts in spring." and not full.excerpt
    assert (summary.text, summary.excerpt, summary.date) == ("The mayor resigned on Sunday.", True, dt.date(2020, 7, 12))
    assert (undated.date, undated.date_source, undated.date_confidence) == (dt.date(2020, 7, 14), "url", "medium")
    assert c.warnings == ()


def test_an_atom_entry_with_only_an_update_time_is_less_sure(tmp_path):
    (tmp_path / "a.atom").write_text(
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Wire</title>'
        '<entry><title>One</title><link href="https://wire.example/1"/><published>2021-05-01T10:00:00+02:00</published>'
        '<updated>2021-05-03T10:00:00Z</updated><content type="html">&lt;p&gt;First.&lt;/p&gt;</content></entry>'
        '<entry><title>Two</title><link href="https://wire.example/2"/><updated>2021-05-04T10:00:00Z</updated>'
        '<summary>Second.</summary></entry>'
        '<entry><title>Three</title><link href="https://wire.example/3"/><summary>Third.</summary></entry></feed>')
    c = load_corpus([tmp_path])
    assert [(a.title, a.date, a.date_confidence, a.excerpt) for a in c.articles] == [
        ("One", dt.date(2021, 5, 1), "high", False), ("Two", dt.date(2021, 5, 4), "medium", True),
        ("Three", None, "none", True)]
    assert c.warnings == ("a.atom entry 3 (https://wire.example/3): the entry has no date; indexed with an unknown date",)


def test_a_broken_feed_keeps_the_entries_before_the_damage(tmp_path):
    (tmp_path / "cut.xml").write_text(RSS[: RSS.index("<item><title>Floods")] + "<item><title>Flo")
    (tmp_path / "not-a-feed.xml").write_text("just some words")
    c = load_corpus([tmp_path])
    assert sorted(a.title for a in c.articles) == ["Council approves the bridge", "Mayor resigns"]
    assert any(w.startswith("cut.xml: the feed is damaged") and "read the" in w for w in c.warnings)
    assert "not a readable RSS or Atom feed" in dict(c.skipped)["not-a-feed.xml"]


# -- web archives ----------------------------------------------------------------------------------------------
def write_warc(path, records, *, gz: bool = True) -> None:
    """``records``: (url, content type, payload bytes, WARC-Date) written as HTTP 200 responses with warcio."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gz)
        for url, ctype, payload, captured in records:
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(payload), http_headers=http,
                warc_headers_dict={"WARC-Date": captured}))


CRAWL = [
    ("https://gazette.example/bridge", "text/html; charset=utf-8",
     page("Council funds the bridge", published="2021-03-04T09:30:00+01:00").encode(), "2024-01-02T03:04:05Z"),
    ("https://gazette.example/logo.png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00", "2024-01-02T03:04:06Z"),
    ("https://gazette.example/vote", "text/html",
     page("Mayor wins the vote", body="The mayor won the vote. " * 30).encode(), "2024-01-02T03:04:07Z"),
]


@pytest.mark.parametrize("name", ["crawl.warc.gz", "crawl.warc"])
def test_a_warc_gives_its_html_pages_with_the_record_url_never_the_crawl_date(tmp_path, name):
    write_warc(tmp_path / name, CRAWL, gz=name.endswith(".gz"))
    c = load_corpus([tmp_path])
    by = {a.url: a for a in c.articles}
    assert sorted(by) == ["https://gazette.example/bridge", "https://gazette.example/vote"]  # the PNG is no article
    bridge, vote = by["https://gazette.example/bridge"], by["https://gazette.example/vote"]
    assert bridge.source == f"{name}#https://gazette.example/bridge"
    assert (bridge.date, bridge.date_source) == (dt.date(2021, 3, 4), "page-metadata")
    assert vote.date is None and vote.date_source == "none"  # captured 2024-01-02, published: unknown
    # its only date is the footer's copyright year
    assert c.warnings == (f"{name} record 3 (https://gazette.example/vote): only a year (2009) is given; "
                          f"indexed with an unknown date",)


def test_a_truncated_warc_keeps_the_pages_before_the_cut_with_one_warning(tmp_path):
    whole = tmp_path / "whole.warc"
    write_warc(whole, CRAWL, gz=False)
    data = whole.read_bytes()
    whole.unlink()
    (tmp_path / "cut.warc").write_bytes(data[: data.index(b"https://gazette.example/vote") + 200])
    (tmp_path / "cut.warc.gz").write_bytes(gzip.compress(data)[:-40])
    (tmp_path / "junk.warc.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    c = load_corpus([tmp_path])
    assert sorted(a.source for a in c.articles) == ["cut.warc#https://gazette.example/bridge",
                                                    "cut.warc.gz#https://gazette.example/bridge"]
    assert any(w.startswith("cut.warc: truncated or damaged after record 2") for w in c.warnings)
    assert any(w.startswith("cut.warc.gz:") and "the 1 pages before it were read" in w for w in c.warnings)
    assert "not a WARC or ARC file" in dict(c.skipped)["junk.warc.gz"]


def test_a_warc_of_many_pages_is_read_as_a_stream(tmp_path):
    pages = [(f"https://gazette.example/2021/03/{1 + n % 28:02d}/story-{n}", "text/html",
              page(f"Story {n}", published=f"2021-03-{1 + n % 28:02d}", body=BODY * 2).encode(), "2024-01-02T00:00:00Z")
             for n in range(300)]
    write_warc(tmp_path / "big.warc.gz", pages)
    # VmHWM is this process's own peak since exec (ru_maxrss would include the parent's size when it forked)
    code = ("import sys, re; from rag import load_corpus; c = load_corpus([sys.argv[1]], progress=True); "
            "print(len(c.articles), sum(a.date is not None for a in c.articles), len(c.warnings), "
            "re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "big.warc.gz")], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=600)
    out = run.stdout.split()
    assert [int(x) for x in out[:3]] == [300, 300, 0]
    assert int(out[3]) < 250_000, out  # KiB: a stream of 300 pages costs about what one page does
    assert "reading:" in run.stderr and "B/s" in run.stderr  # the progress bar counts the archive's bytes


# -- CSV -------------------------------------------------------------------------------------------------------
def test_a_csv_with_a_header_reads_like_a_json_collection(tmp_path):
    (tmp_path / "export.csv").write_text(
        'Title,Body,Published_At,URL,Source\n'
        '"Bridge, at last","The council voted 7-2.\nWork starts in spring.",2021-03-04,https://x.example/b,Gazette\n'
        'No date,Body here,,,\n'
        ',,,,\n'
        'Bad date,More text,2021-02-30,https://x.example/c,Gazette\n', encoding="utf-8")
    (tmp_path / "semicolons.csv").write_text("title;text;date\nOne;First body;2022-01-05\n")
    (tmp_path / "nobody.csv").write_text("a,b\n1,2\n")
    c = load_corpus([tmp_path])
    by = {a.source: a for a in c.articles}
    b = by["export.csv#https://x.example/b"]
    assert (b.title, b.text, b.date, b.publisher, b.date_source) == (
        "Bridge, at last", "The council voted 7-2.\nWork starts in spring.", dt.date(2021, 3, 4), "Gazette", "csv-field")
    assert by["export.csv#4"].date is None and by["semicolons.csv#2"].date == dt.date(2022, 1, 5)
    assert "export.csv row 4: no 'published_at' or 'date'; indexed with an unknown date" in c.warnings
    assert any(w.startswith("export.csv row 6: date '2021-02-30' is not a real date") for w in c.warnings)
    assert dict(c.skipped)["nobody.csv"] == "the header names no body, text or content column (it has: a, b)"


def test_collections_exported_by_other_tools_keep_their_dates(tmp_path):
    """NewsAPI, news-please and a spreadsheet name their fields their own way and write dates their own way;
    every one of these articles keeps its day, title, publisher and URL."""
    (tmp_path / "newsapi.json").write_text(json.dumps({"status": "ok", "articles": [
        {"source": {"id": None, "name": "BBC News"}, "author": "A. Reporter", "title": "Bridge opens",
         "url": "https://bbc.example/a", "publishedAt": "2021-12-02T10:00:00Z", "content": "The bridge opened."}]}),
        encoding="utf-8")
    (tmp_path / "newsplease.jsonl").write_text(json.dumps(
        {"title": "Dam closes", "maintext": "The dam closed for repairs.", "date_publish": "2021-12-03 08:15:00",
         "source_domain": "gazette.example", "authors": ["B. Writer", "C. Editor"], "url": "https://g.example/d"})
        + "\n", encoding="utf-8")
    (tmp_path / "sheet.csv").write_text(
        "Headline,Date,Article,Link\n"
        "Tunnel delayed,\"December 4, 2021\",The tunnel is late.,https://t.example/t\n"
        "Road resurfaced,\"Sun, 05 Dec 2021 09:00:00 GMT\",The road is smooth.,https://t.example/r\n"
        "Rail strike,06.12.2021,Trains stopped.,https://t.example/s\n"
        "Ferry sold,December 2021,The ferry was sold.,https://t.example/f\n", encoding="utf-8")
    c = load_corpus([tmp_path])
    got = {a.title: (a.date, a.publisher, a.url) for a in c.articles}
    assert got["Bridge opens"] == (dt.date(2021, 12, 2), "BBC News", "https://bbc.example/a")
    assert got["Dam closes"] == (dt.date(2021, 12, 3), "gazette.example", "https://g.example/d")
    assert next(a for a in c.articles if a.title == "Dam closes").author == "B. Writer, C. Editor"
    assert got["Tunnel delayed"][0] == dt.date(2021, 12, 4) and got["Road resurfaced"][0] == dt.date(2021, 12, 5)
    assert got["Rail strike"][0] == dt.date(2021, 12, 6)  # dots: day first
    assert got["Ferry sold"][0] is None  # a month is not a publication day: undated, and said so
    assert any(w.startswith("sheet.csv row 5: date 'December 2021' is not a real date") for w in c.warnings)


def test_text_files_with_a_header_or_front_matter_keep_their_dates(tmp_path):
    (tmp_path / "header.txt").write_text("Title: Bridge opens\nDate: December 2, 2021\nSource: Gazette\n"
                                         "URL: https://g.example/b\n\nThe bridge opened today.\n", encoding="utf-8")
    (tmp_path / "front.txt").write_text('---\ntitle: "Dam closes"\ndate: 2021-12-03\nauthor: B. Writer\n---\n'
                                        "The dam closed.\n", encoding="utf-8")
    (tmp_path / "dateline.txt").write_text("Washington: The Senate voted today.\nMore.\n", encoding="utf-8")
    (tmp_path / "undated.txt").write_text("Title: Ferry sold\nDate: December 2021\n\nThe ferry was sold.\n",
                                          encoding="utf-8")
    c = load_corpus([tmp_path])
    by = {a.source: a for a in c.articles}
    h = by["header.txt"]
    assert (h.title, h.date, h.publisher, h.url, h.text, h.date_source) == (
        "Bridge opens", dt.date(2021, 12, 2), "Gazette", "https://g.example/b", "The bridge opened today.",
        "text-header")
    assert (by["front.txt"].title, by["front.txt"].date, by["front.txt"].author) == (
        "Dam closes", dt.date(2021, 12, 3), "B. Writer")
    # a body that opens like a header line is a body: all of it is kept, and the file is undated as before
    assert by["dateline.txt"].text.startswith("Washington: The Senate") and by["dateline.txt"].date is None
    assert by["undated.txt"].date is None and by["undated.txt"].text == "The ferry was sold."
    assert any(w.startswith("undated.txt: date 'December 2021' in the header is not a real date") for w in c.warnings)


# -- bounded reading: sizes, FIFOs, nesting ----------------------------------------------------------------------
def test_files_too_large_to_hold_are_refused_by_what_is_read_not_just_their_size(tmp_path):
    (tmp_path / "big.json").write_bytes(b"[" + b" " * MAX_FILE_BYTES + b"]")
    (tmp_path / "big.txt").write_bytes(b" date 2021-01-01 Big\n" + b"word " * (MAX_ARTICLE_BYTES // 5 + 1))
    lines = [json.dumps({"title": "a", "body": "first", "date": "2021-01-01"}).encode(),
             b'{"title": "huge", "body": "' + b"x" * (MAX_RECORD_BYTES + 10) + b'"}',
             json.dumps({"title": "b", "body": "after", "date": "2021-01-02"}).encode()]
    (tmp_path / "big.jsonl").write_bytes(b"\n".join(lines))
    c = load_corpus([tmp_path])
    reasons = dict(c.skipped)
    assert "over the 32 MiB limit" in reasons["big.json"] and "JSON Lines" in reasons["big.json"]
    assert "over the 8 MiB limit" in reasons["big.txt"]
    assert "a line longer than 16 MiB" in reasons["big.jsonl line 2"]
    assert sorted(a.title for a in c.articles) == ["a", "b"]  # the lines around it are read


def test_a_fifo_or_device_is_skipped_without_being_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "good.txt").write_text(" date 2021-12-02 Good\n\nFine.")
    code = ("import sys; from rag import load_corpus; "
            "c = load_corpus(sys.argv[1:]); print([a.source for a in c.articles]); print(dict(c.skipped))")
    # a reader that opened the FIFO would block here forever: the timeout is the failure
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(tmp_path / "pipe.jsonl"), "/dev/zero"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    articles, skipped = run.stdout.splitlines()
    assert articles == "['good.txt']"
    assert "'pipe.jsonl': 'a FIFO (named pipe), not a regular file; only regular files are read'" in skipped
    assert "'zero': 'a character device, not a regular file" in skipped


def test_deeply_nested_json_is_skipped_with_a_warning_not_a_crash(tmp_path, hash_embedder):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.json").write_text(deep)
    (tmp_path / "mixed.jsonl").write_text("\n".join([
        json.dumps({"title": "kept", "body": "A good line.", "date": "2021-01-01"}), deep,
        json.dumps({"title": "also kept", "body": "Another good line.", "date": "2021-01-02"})]))
    report = index_corpus([tmp_path], settings=Settings(index=tmp_path / "index"), embedder=hash_embedder)
    assert report.articles == 2
    assert dict(report.skipped) == {"deep.json": "JSON nested too deeply to read (thousands of levels of [ or {)",
                                    "mixed.jsonl line 2": "JSON nested too deeply to read (thousands of levels of [ or {)"}


# -- what the index keeps and shows ------------------------------------------------------------------------------
def test_date_sources_are_stored_and_shown_by_search_and_the_cli(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_text(" date 2021-12-02 Council vote\n\nThe council voted on the bridge budget.")
    (corpus / "page.html").write_text(page("Bridge opens", published="2022-05-01", canonical="https://g.example/open"))
    (corpus / "nodate.html").write_text(page("Bridge delayed", body="The bridge opening was delayed again. " * 20))
    env = dict(os.environ, DATELINE_MODEL="hash-embedder", DATELINE_INDEX=str(tmp_path / "index"))
    run = subprocess.run([sys.executable, "-m", "rag", "index", str(corpus)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "3 articles" in run.stdout and "1 undated" in run.stdout
    assert "warning: nodate.html: only a year (2009) is given; indexed with an unknown date" in run.stderr
    run = subprocess.run([sys.executable, "-m", "rag", "search", "bridge", "-k", "30", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    hits = {h["source"]: h for h in json.loads(run.stdout)}
    assert (hits["seed.txt"]["date_source"], hits["seed.txt"]["date_confidence"]) == ("date-line", "high")
    assert hits["page.html#https://g.example/open"]["date_source"] == "page-metadata"
    assert (hits["nodate.html"]["date"], hits["nodate.html"]["date_source"]) == (None, "none")
    assert set(DATE_SOURCES) >= {h["date_source"] for h in hits.values()}


def test_an_index_written_before_date_sources_still_loads():
    from rag.store import _article_from_json

    old = {"id": "x", "source": "a.txt", "title": "T", "date": "2021-01-02", "publisher": None, "url": None,
           "author": None, "text": "Body."}
    a = _article_from_json(old)
    assert (a.date, a.date_source, a.date_confidence, a.updated, a.excerpt) == (dt.date(2021, 1, 2), "", "", None, False)


def test_the_source_card_says_where_the_date_came_from(tmp_path, hash_embedder):
    from rag import Citation
    from ui.app import render_cards

    (tmp_path / "page.html").write_text(page("Bridge opens", published="2022-05-01", canonical="https://g.example/o"))
    settings = Settings(index=tmp_path / "index")
    index_corpus([tmp_path / "page.html"], settings=settings, embedder=hash_embedder)
    index = Index.open(settings.index, settings=settings, embedder=hash_embedder)
    a = index.articles[0]
    quote = a.text[:40]
    answer = type("A", (), {"question": "q", "citations": [Citation(1, a.source, a.date, a.title, quote, 0, 40, 1.0)]})
    html = render_cards(answer, index)
    assert "2022-05-01" in html and ">from page metadata</small>" in html and "high confidence" in html
