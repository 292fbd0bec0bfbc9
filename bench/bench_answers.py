"""Answers on MultiHop-RAG: does the answer keep what retrieval found, refuse what the corpus lacks, cite both sides?

Indexes MultiHop-RAG with ``rag index`` (reused from bench/out/ when present), then
asks every one of its 2,556 questions through ``answer()`` and prints, per split
(``test`` is the headline: nothing was chosen on it; ``dev`` chose the reader's
sizes and thresholds; ``fit`` trained it — see bench/train_reader.py):

- inference questions (the gold answer is a name): answer hits (the answer text
  contains the gold answer and cites a gold article) next to the same check on the
  top 1 and top 3 passages ``retrieve()`` returns;
- null queries refused; false refusals on the answerable questions;
- comparison and temporal questions: the answer cites every gold article;
- the gold fact in the answer (any type), median answer length (sentences);
- p50/p95 answer latency, and questions that raised (must be 0 over all 2,556).

``--seeds`` asks the labelled seeds sets instead (``tests/questions.jsonl``, the
regression set the old rules were tuned on; ``bench/seeds_dev.jsonl`` and
``bench/seeds_outside_dev.jsonl``, the dev sets the reader was chosen on, the second
written by someone who saw only the articles; ``bench/seeds_heldout.jsonl``, written
the same way and run once to report, when present): answer hits next to the
top-1/top-3 passages, and refusals. ``--seeds-file`` asks one more file.

``--lower`` asks every question typed in lower case ("did techcrunch and the verge ..."),
as people type in a chat, and ``--upper`` in capitals only: how much of the answer hangs on
capitals. ``--typed bare`` drops the question mark, ``--typed polite`` asks "Please tell
me: ..." instead.

Example:  .venv/bin/python bench/bench_answers.py            # make bench-answers
          .venv/bin/python bench/bench_answers.py --limit 300 --splits dev
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import traceback
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from multihop_data import CACHE, contains_answer, ensure_index, load, states_fact  # noqa: E402
from rag import Index, Settings, answer  # noqa: E402


TYPED = {
    "lower": str.lower,
    "upper": str.upper,
    "bare": lambda q: q.rstrip().rstrip("?").rstrip(),
    "polite": lambda q: "Please tell me: " + q,
}


def _typed(question: str, case: str) -> str:
    return TYPED[case](question) if case else question


def _row(mq, idx: Index, case: str = "") -> dict:
    asked = _typed(mq.query, case)
    t0 = time.perf_counter()
    try:
        a = answer(asked, index=idx, settings=idx.settings)
    except Exception as e:  # counted, shown, never hidden
        return {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(), "mq": mq}
    seconds = time.perf_counter() - t0
    cited = {c.source for c in a.citations} | {r.source for c in a.citations for r in c.also_in}
    row = {"mq": mq, "seconds": seconds, "refused": a.refused, "sentences": len(a.citations)}
    if mq.type == "null_query":
        return row
    row["fact"] = any(states_fact(c.quote, mq.facts) for c in a.citations)
    if mq.type == "inference_query":
        row["hit"] = (not a.refused) and contains_answer(a.text, mq.answer) and bool(cited & mq.sources)
        hits = idx.search(asked, k=3)
        for k in (1, 3):
            top = hits[:k]
            row[f"top{k}"] = (any(contains_answer(h.text, mq.answer) for h in top)
                              and any(h.source in mq.sources for h in top))
    else:
        row["cites_all"] = (not a.refused) and mq.sources <= cited
    return row


def _mean(xs) -> str:
    xs = list(xs)
    return f"{sum(xs) / len(xs):.3f}" if xs else "  n/a"


def report(rows: list[dict], name: str) -> None:
    ok = [r for r in rows if "error" not in r]
    inf = [r for r in ok if r["mq"].type == "inference_query"]
    cmp_ = [r for r in ok if r["mq"].type in ("comparison_query", "temporal_query")]
    null = [r for r in ok if r["mq"].type == "null_query"]
    answerable = [r for r in ok if r["mq"].type != "null_query"]
    answered = [r for r in ok if not r["refused"]]
    secs = sorted(r["seconds"] for r in ok)
    print(f"\n== {name}: {len(rows)} questions ({len(inf)} inference, {len(cmp_)} comparison/temporal, "
          f"{len(null)} null)")
    print(f"inference answer hits        {_mean(r['hit'] for r in inf)}   top-1 passage {_mean(r['top1'] for r in inf)}"
          f"   top-3 passages {_mean(r['top3'] for r in inf)}")
    print(f"null queries refused         {_mean(r['refused'] for r in null)}")
    print(f"false refusals (answerable)  {_mean(r['refused'] for r in answerable)}")
    print(f"cites every gold article     {_mean(r['cites_all'] for r in cmp_)}   (comparison + temporal)")
    by = defaultdict(list)
    for r in cmp_:
        by[r["mq"].type].append(r["cites_all"])
    print("                             " + "   ".join(f"{t}: {_mean(v)}" for t, v in sorted(by.items())))
    print(f"gold fact in the answer      {_mean(r['fact'] for r in answerable)}")
    if answered:
        print(f"answer length (sentences)    median {statistics.median(r['sentences'] for r in answered):g}, "
              f"max {max(r['sentences'] for r in answered)}")
    if secs:
        print(f"latency                      p50 {1000 * secs[len(secs) // 2]:.0f} ms, "
              f"p95 {1000 * secs[int(len(secs) * 0.95)]:.0f} ms")
    print(f"questions that raised        {len(rows) - len(ok)}")


def seeds(case: str = "", extra: Path | None = None) -> None:
    """The seeds sets: answer hits (the answer holds one of the answers and cites a gold file) vs passages."""
    import subprocess

    from rag.evaluation import load_cases

    root = CACHE / "seeds-index"
    if not (root / "CURRENT").exists():
        subprocess.run([sys.executable, "-m", "rag", "index", str(ROOT / "seeds"), "--index", str(root)],
                       cwd=ROOT, check=True)
    idx = Index.open(root, settings=Settings(index=root))
    files = [ROOT / "tests" / "questions.jsonl", ROOT / "bench" / "seeds_dev.jsonl",
             ROOT / "bench" / "seeds_outside_dev.jsonl", ROOT / "bench" / "seeds_heldout.jsonl"]
    for path in [f for f in files if f.exists()] + ([extra.resolve()] if extra else []):
        n = top1 = top3 = hits = refuse = refused = false_refusals = 0
        for c in load_cases(path):
            if c.history:
                continue
            asked = _typed(c.question, case)
            a = answer(asked, index=idx, settings=idx.settings)
            if c.type == "refuse":
                refuse += 1
                refused += a.refused
                continue
            n += 1
            has = lambda text: any(x.lower() in text.lower() for x in c.answer_any)  # noqa: E731
            top = idx.search(asked, k=3)
            top1 += bool(top) and has(top[0].text) and top[0].source in c.sources
            top3 += any(has(h.text) for h in top) and any(h.source in c.sources for h in top)
            cited = {x.source for x in a.citations}
            hits += (not a.refused) and has(a.text) and bool(cited & set(c.sources))
            false_refusals += a.refused
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{name}: {n} answerable: answer hits {hits / n:.2f} (top-1 passage {top1 / n:.2f}, "
              f"top-3 {top3 / n:.2f}), false refusals {false_refusals}; unanswerable refused {refused}/{refuse}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=CACHE / "mh-index")
    ap.add_argument("--splits", default="test,dev,fit", help="comma-separated: which splits to ask")
    ap.add_argument("--limit", type=int, default=0, help="ask at most this many questions per split")
    ap.add_argument("--seeds", action="store_true", help="ask the seeds sets instead of MultiHop-RAG")
    ap.add_argument("--seeds-file", type=Path, help="with --seeds: ask this question file too")
    ap.add_argument("--lower", action="store_const", const="lower", dest="case", default="",
                    help="ask every question typed in lower case")
    ap.add_argument("--upper", action="store_const", const="upper", dest="case", help="... or in capitals only")
    ap.add_argument("--typed", choices=sorted(TYPED), dest="case", help="ask every question written this way")
    args = ap.parse_args()
    if args.seeds:
        return seeds(args.case, args.seeds_file)
    root = ensure_index(args.index)
    idx = Index.open(root, settings=Settings(index=root))
    questions = load()
    all_rows = []
    for split in args.splits.split(","):
        qs = [q for q in questions if q.split == split]
        if args.limit:
            qs = qs[: args.limit]
        rows = [_row(q, idx, args.case) for q in qs]
        all_rows += rows
        report(rows, split)
        for r in rows:
            if "error" in r:
                print(f"  raised on: {r['mq'].query[:100]!r}: {r['error']}")
    if len(args.splits.split(",")) > 1:
        print(f"\nall splits: {len(all_rows)} questions, {sum('error' in r for r in all_rows)} raised")


if __name__ == "__main__":
    main()
