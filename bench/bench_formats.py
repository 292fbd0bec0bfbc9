"""Formats benchmark: the publication dates of real saved news pages, and reading 200 MB files in bounded memory.

1. news-html (../shared/bench/news-html: 200 real news pages, publication dates labelled by hand; 5 labelled
   "no date"): the real ``rag index PAGES --index TMP --json`` as a subprocess, then the index it wrote is
   opened and each page's stored date compared with its label (exact day). Printed: pages indexed, pages
   skipped with reasons, accuracy, no date, wrong date (and wrong by more than a day), by date source;
   over all 200 pages (a page labelled "no date" is right only when left undated), over the 195 with a
   labelled date, and on two fixed halves of the sorted page ids: the even positions, on which the date
   rules in rag/readers/pages.py were chosen, and the odd positions, held out. For comparison, in the
   same process on the same bytes: htmldate alone (``find_date``, extensive search, original date), as
   most pipelines use it. Targets: accuracy >= 0.90 with wrong dates <= 0.03.
   ``--htmldate-tests DIR``: also the other 800 labelled pages of htmldate's 1,000-page benchmark (its
   "BBAW" set: German-leaning news, blogs and other web pages; ``DIR`` is the ``tests/`` folder of an htmldate
   checkout, commit b8952828, which holds ``eval_default.json`` and the pages under ``eval/`` and ``cache/``).
   None of the date rules was chosen on them. Each page goes through ``page_article``, the reader ``rag index``
   uses, without the embedding; printed on two fixed halves of the sorted file names (even positions "dev",
   odd positions "test"), with htmldate alone beside it.
2. ``--rss``: 200 MB files of each kind that cannot be read whole or has one giant record (.txt, .json,
   .jsonl, .csv, .html, .warc), each indexed with seeds/ by ``rag index`` (real model) as a subprocess:
   its peak RSS (wait4), exit code, time and the line it printed about the file; next to ``rag index
   seeds/`` alone. And 200 MB of valid JSON Lines articles *read* (``load_corpus`` in a subprocess):
   reading streams; indexing 60,000 articles is the index builder's memory, not the reader's.

Usage::

    .venv/bin/python bench/bench_formats.py          # news-html dates (a few minutes: it embeds 198 pages)
    .venv/bin/python bench/bench_formats.py --rss    # also the 200 MB files (a few more minutes)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NEWS_HTML = ROOT.parent / "shared" / "bench" / "news-html"
SEEDS = ROOT / "seeds"
MB = 2**20


def own_rss() -> float:
    """This process's resident size now, MiB. A child's ru_maxrss starts from it (fork copies it), so a
    child's figure is its own only when above this."""
    import re

    return int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def peak_rss(args: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``args`` as a child and reap it with wait4, so its own peak RSS is known exactly."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        return subprocess.CompletedProcess(args, code, out.read(), err.read()), seconds, usage.ru_maxrss / 1024


# -- 1. news-html ----------------------------------------------------------------------------------------------
def score(names: list[str], labels: dict, got: dict) -> dict:
    import datetime as dt

    right = none = wrong = far = 0
    for n in names:
        gold = labels[n]["published"]
        gold = None if not isinstance(gold, str) else gold
        d = got.get(n)
        if d == gold:
            right += 1
        elif d is None:
            none += 1
        else:
            wrong += 1
            if gold is None or abs((dt.date.fromisoformat(d) - dt.date.fromisoformat(gold)).days) > 1:
                far += 1
    return {"n": len(names), "acc": right / len(names), "none": none, "wrong": wrong, "far": far}


def line(name: str, s: dict) -> str:
    return (f"  {name:38} {s['n']:4d} pages  accuracy {s['acc']:.3f}  no date {s['none']:3d}  "
            f"wrong {s['wrong']:3d} ({s['wrong'] / s['n']:.3f}; >1 day off {s['far']})")


def news_html() -> None:
    from rag.store import Store

    labels = json.loads((NEWS_HTML / "labels.json").read_text())
    names = sorted(labels)
    with tempfile.TemporaryDirectory(prefix="dateline-bench-formats-") as tmp:
        result, seconds, rss = peak_rss([sys.executable, "-m", "rag", "index", str(NEWS_HTML / "pages"),
                                         "--index", str(Path(tmp) / "index"), "--json"])
        if result.returncode != 0:
            sys.exit(f"rag index failed:\n{result.stderr}")
        report = json.loads(result.stdout)
        articles = Store.open(Path(tmp) / "index").articles
    by_file = {a.source.split("#", 1)[0]: a for a in articles}
    got = {n: a.date.isoformat() if a.date else None for n, a in by_file.items()}
    print(f"rag index {NEWS_HTML / 'pages'}: {seconds:.0f} s, peak RSS {rss:.0f} MiB, "
          f"{report['chunks']} chunks embedded")
    print(f"pages indexed: {len(by_file)} of {len(names)} ({report['undated']} of them undated); "
          f"skipped: {len(report['skipped'])}")
    for s in report["skipped"]:
        print(f"  skipped {s['file']}: {s['reason']}")
    dated = [n for n in names if isinstance(labels[n]["published"], str)]
    print("publication date, exact day (a page labelled 'no date' is right only if left undated):")
    print(line("all pages", score(names, labels, got)))
    print(line("pages with a labelled date", score(dated, labels, got)))
    print(line("tuning half (even positions)", score(names[0::2], labels, got)))
    print(line("held-out half (odd positions)", score(names[1::2], labels, got)))
    sources = Counter(a.date_source for a in by_file.values())
    for src, count in sources.most_common():
        sel = [n for n in names if n in by_file and by_file[n].date_source == src]
        s = score(sel, labels, got)
        print(f"  from {src:14} {count:4d} pages: right {round(s['acc'] * s['n']):3d}, wrong {s['wrong']}")
    wrong = [n for n in names if got.get(n) is not None and got[n] != labels[n]["published"]]
    print("wrong dates (page, label, stored, source):",
          ", ".join(f"{n.removesuffix('.html')} {labels[n]['published']} {got[n]} {by_file[n].date_source}"
                    for n in wrong))

    # htmldate alone, as most pipelines call it, on the same bytes
    from htmldate import find_date

    logging.disable(logging.WARNING)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = {n: find_date((NEWS_HTML / "pages" / n).read_bytes(), extensive_search=True, original_date=True)
                 for n in names}
    print(f"for comparison, htmldate.find_date(extensive, original) alone ({time.perf_counter() - t0:.0f} s):")
    print(line("all pages", score(names, labels, alone)))
    print(line("held-out half (odd positions)", score(names[1::2], labels, alone)))


def htmldate_set(tests: Path) -> None:
    """Dates of the pages of htmldate's own benchmark (eval_default.json), by Dateline's page reader."""
    from htmldate import find_date

    from rag.readers.base import Log
    from rag.readers.pages import page_article

    listed = json.loads((tests / "eval_default.json").read_text())
    paths = {e["file"]: p for e in listed.values() for p in (tests / "eval" / e["file"], tests / "cache" / e["file"])
             if p.is_file()}
    labels = {e["file"]: {"published": e["date"]} for e in listed.values() if e["file"] in paths}
    names = sorted(labels)
    logging.disable(logging.WARNING)
    got, alone, log = {}, {}, Log()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            raw = paths[n].read_bytes()
            a = page_article(raw, n, n, log)
            got[n] = a.date.isoformat() if a and a.date else None
            alone[n] = find_date(raw, extensive_search=True, original_date=True)
    print(f"htmldate's BBAW pages ({tests}): {len(names)} of {len(listed)} listed are in the checkout; "
          f"{len(log.skipped)} skipped as no article; {time.perf_counter() - t0:.0f} s")
    for name, sel in (("all", names), ("dev half (even positions)", names[0::2]),
                      ("test half (odd positions)", names[1::2])):
        print(line(name, score(sel, labels, got)))
        print(line(f"  htmldate alone, {name.split(' (')[0]}", score(sel, labels, alone)))


# -- 2. 200 MB files -----------------------------------------------------------------------------------------------
def _write(path: Path, head: bytes, unit: bytes, tail: bytes, size: int) -> None:
    with open(path, "wb") as f:
        f.write(head)
        block = unit * max(1, (1 << 20) // len(unit))
        while f.tell() < size:
            f.write(block)
        f.write(tail)


def _big_files(folder: Path, size: int) -> list[Path]:
    words = b"The council met on Thursday and voted on the bridge, the budget and the new school. "
    rec = json.dumps({"title": "A normal article", "body": "The council voted on the bridge.",
                      "published_at": "2021-03-04"}).encode()
    out = []
    for name, head, unit, tail in [
        ("one-article.txt", b" date 2021-03-04 A very long article\n", words, b"\n"),
        ("one-document.json", b'[{"title": "Huge", "published_at": "2021-03-04", "body": "', words, b'"}]'),
        ("giant-line.jsonl", rec + b"\n" + b'{"title": "Huge", "published_at": "2021-03-04", "body": "', words,
         b'"}\n' + rec.replace(b"normal", b"second") + b"\n"),
        ("giant-row.csv", b"title,body,published_at\nNormal,The council voted.,2021-03-04\nHuge,", words,
         b",2021-03-04\n"),
        ("huge-page.html", b"<html><head><title>Huge</title></head><body><article><p>", words,
         b"</p></article></body></html>"),
    ]:
        _write(folder / name, head, unit, tail, size)
        out.append(folder / name)
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    class Payload:  # streams the page body without ever holding it
        def __init__(self, n: int):
            self.left = n

        def read(self, k: int = -1) -> bytes:
            k = self.left if k is None or k < 0 else min(k, self.left)
            self.left -= k
            return (words * (k // len(words) + 1))[:k]

    with open(folder / "giant-record.warc", "wb") as f:
        writer = WARCWriter(f, gzip=False)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(size))],
                                protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record("https://x.example/huge", "response", payload=Payload(size),
                                                      length=size + len(http.to_bytes()), http_headers=http))
    out.append(folder / "giant-record.warc")
    return out


def rss(size: int) -> None:
    print(f"\npeak RSS of `rag index seeds/ FILE` (real model) on {size // MB} MB files "
          f"(this process: {own_rss():.0f} MiB, a floor under each child's figure):")
    with tempfile.TemporaryDirectory(prefix="dateline-bench-rss-") as tmp:
        tmp = Path(tmp)
        base, seconds, mib = peak_rss([sys.executable, "-m", "rag", "index", str(SEEDS), "--index", str(tmp / "i0")])
        print(f"  {'(seeds/ alone, the baseline)':34} peak RSS {mib:6.0f} MiB  {seconds:5.1f} s  exit {base.returncode}")
        for n, path in enumerate(_big_files(tmp, size), start=1):
            result, seconds, mib = peak_rss([sys.executable, "-m", "rag", "index", str(SEEDS), str(path),
                                             "--index", str(tmp / f"i{n}")])
            said = next((x for x in result.stderr.splitlines() if path.name in x), result.stderr.strip()[-200:])
            print(f"  {path.name:34} peak RSS {mib:6.0f} MiB  {seconds:5.1f} s  exit {result.returncode}  {said}")
            path.unlink()
        # 200 MB of valid articles, streamed: what reading them costs
        body = "The council met on Thursday and voted on the bridge, the budget and the new school. " * 40
        valid = tmp / "articles.jsonl"
        count = 0
        with open(valid, "w") as f:
            while f.tell() < size:
                f.write(json.dumps({"title": f"Story {count}", "body": f"{body}{count}", "published_at": "2021-03-04",
                                    "url": f"https://x.example/{count}"}) + "\n")
                count += 1
        code = "import sys; from rag import load_corpus; c = load_corpus([sys.argv[1]]); print(len(c.articles))"
        result, seconds, mib = peak_rss([sys.executable, "-c", code, str(valid)])
        print(f"  load_corpus(articles.jsonl): {int(result.stdout or 0):,} valid articles of {valid.stat().st_size / MB:.0f} MB"
              f" read, peak RSS {mib:.0f} MiB, {seconds:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rss", action="store_true", help="also index 200 MB files and print peak RSS")
    ap.add_argument("--rss-only", action="store_true", help="only the 200 MB files")
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--htmldate-tests", type=Path, metavar="DIR",
                    help="also htmldate's other labelled pages: the tests/ folder of an htmldate checkout")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if not args.rss_only:
        if not NEWS_HTML.is_dir():
            sys.exit(f"{NEWS_HTML} is not beside this checkout")
        news_html()
    if args.htmldate_tests:
        htmldate_set(args.htmldate_tests)
    if args.rss or args.rss_only:
        rss(args.size_mb * MB)


if __name__ == "__main__":
    main()
