"""MultiHop-RAG retrieval benchmark: do the top 10 hold all the evidence a multi-article question needs?

Indexes ``corpus.json`` (609 articles) with the ordinary ``index_corpus``, asks every
question but the ``null_query`` ones (2,255) through ``Index.search`` for the top 10,
and prints, overall and per question type, for the full set, the dev split (every
fifth question, which the ranking was tuned on) and the held-out rest:

- the paper's metric, computed as upstream's ``retrieval_evaluate.py`` does: a chunk
  is a hit when it contains a gold ``fact`` once spaces and newlines are removed from
  both; Hits@10, Hits@4, MAP@10, MRR@10;
- fact-recall@10 (share of a question's distinct gold facts in the top 10) and
  complete@10 (share of questions with all of them there);
- doc-recall@10 (share of the gold articles, by url, with a chunk in the top 10);

then an ablation over the retrieval switches in ``Settings``, index time, query
latency p50/p95 and peak memory.

Example:  .venv/bin/python bench/bench_multihop.py                 # fresh index in a temp dir
          .venv/bin/python bench/bench_multihop.py --index /tmp/mh-index --no-ablation
          .venv/bin/python bench/bench_multihop.py --encoder torch --no-ablation   # the same on torch
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rag import Index, Settings, embedder_for  # noqa: E402
from rag.indexing import index_corpus  # noqa: E402

DATA = ROOT.parent / "shared" / "bench" / "multihop-rag"
K = 10
TYPES = ("inference_query", "comparison_query", "temporal_query")

#: The ablation: each row adds one piece of the retrieval pipeline to the one before.
ABLATION: dict[str, dict] = {
    "dense only": dict(dense=True, lexical=False, sentences=False, metadata=False, coverage=False),
    "BM25 only": dict(dense=False, lexical=True, sentences=False, metadata=False, coverage=False),
    "hybrid": dict(dense=True, lexical=True, sentences=False, metadata=False, coverage=False),
    "+ sentences": dict(dense=True, lexical=True, sentences=True, metadata=False, coverage=False),
    "+ metadata": dict(dense=True, lexical=True, sentences=True, metadata=True, coverage=False),
    "+ coverage": dict(dense=True, lexical=True, sentences=True, metadata=True, coverage=True),
}

#: Published and measured rows the issue sets as the bar (Hits@10, Hits@4, MAP@10, MRR@10, fact-recall, complete).
BAR = {
    "paper best (voyage-02 + bge-reranker-large)": (0.7467, 0.6625, None, 0.5860, None, None),
    "dense MiniLM, exact (baseline)": (0.744, 0.554, 0.194, 0.411, 0.414, 0.148),
    "BM25, bm25s (baseline)": (0.846, 0.694, 0.284, 0.559, 0.551, 0.274),
    "naive RRF (baseline)": (0.851, 0.689, 0.270, 0.541, 0.537, 0.257),
}


@dataclass(frozen=True)
class Question:
    """One retrieval question: its text, type, gold facts and gold article urls; ``dev`` if tuned on."""

    n: int  # position among the retrieval questions, file order
    query: str
    type: str
    facts: tuple[str, ...]
    urls: frozenset[str]

    @property
    def dev(self) -> bool:
        return self.n % 5 == 0


def load_questions(path: Path = DATA / "MultiHopRAG.json") -> list[Question]:
    """The 2,255 questions that have evidence, in file order."""
    out = []
    for q in json.loads(path.read_text()):
        if q["question_type"] == "null_query":
            continue
        ev = q["evidence_list"]
        out.append(Question(len(out), q["query"], q["question_type"], tuple(e["fact"] for e in ev),
                            frozenset(e["url"] for e in ev)))
    return out


def _squash(s: str) -> str:
    return s.replace(" ", "").replace("\n", "")


def paper_metrics(retrieved: Sequence[str], gold: Sequence[str]) -> tuple[bool, bool, float, float]:
    """(hit@10, hit@4, average precision@10, reciprocal rank@10) for one question, as upstream computes them.

    Upstream's quirks are kept: a chunk holding several new facts adds them all to
    one rank's precision, and the AP denominator is min(len(gold), 10), gold as given.
    """
    gold = [_squash(g) for g in gold]
    retrieved = [_squash(r) for r in retrieved]
    hit10 = hit4 = False
    ap_sum, first, found = 0.0, None, []
    for rank, item in enumerate(retrieved[:K], start=1):
        if any(g in item for g in gold):
            hit10 = True
            first = first or rank
            hit4 = hit4 or rank <= 4
            count = 0
            for g in gold:
                if g in item and g not in found:
                    count += 1
                    found.append(g)
            ap_sum += count / rank
    return hit10, hit4, ap_sum / min(len(gold), 10), (1 / first if first else 0.0)


def fact_recall(retrieved: Sequence[str], gold: Sequence[str]) -> float:
    """Share of the distinct gold facts contained in some retrieved chunk (spaces and newlines ignored)."""
    facts = {_squash(g) for g in gold}
    chunks = [_squash(r) for r in retrieved[:K]]
    return sum(any(f in c for c in chunks) for f in facts) / len(facts)


@dataclass(frozen=True)
class Scores:
    """Mean per-question measures over a set of questions."""

    n: int
    hits10: float
    hits4: float
    map10: float
    mrr10: float
    fact_recall: float
    complete: float
    doc_recall: float

    def row(self) -> list[str]:
        return [f"{v:.3f}" for v in (self.hits10, self.hits4, self.map10, self.mrr10, self.fact_recall,
                                      self.complete, self.doc_recall)]


COLUMNS = ["Hits@10", "Hits@4", "MAP@10", "MRR@10", "fact-recall@10", "complete@10", "doc-recall@10"]


def score(per_question: Sequence[tuple]) -> Scores:
    """Average the per-question tuples (hit10, hit4, ap, rr, fact recall, complete, doc recall)."""
    if not per_question:
        return Scores(0, *([0.0] * 7))
    cols = np.array(per_question, dtype=np.float64)
    return Scores(len(per_question), *cols.mean(axis=0).tolist())


def evaluate(questions: Sequence[Question], search: Callable[[str], list]) -> tuple[list[tuple], list[float]]:
    """Per-question measures and per-question latency (seconds) for ``search(query) -> hits``."""
    rows, latency = [], []
    for q in questions:
        t = time.perf_counter()
        hits = search(q.query)[:K]
        latency.append(time.perf_counter() - t)
        texts = [h.text for h in hits]
        hit10, hit4, ap, rr = paper_metrics(texts, q.facts)
        fr = fact_recall(texts, q.facts)
        urls = {h.url for h in hits}
        rows.append((hit10, hit4, ap, rr, fr, fr == 1.0, len(q.urls & urls) / len(q.urls)))
    return rows, latency


def split_scores(questions: Sequence[Question], rows: Sequence[tuple]) -> dict[str, Scores]:
    """Scores on the full set, the dev split and the held-out rest."""
    return {
        "full": score(rows),
        "dev": score([r for q, r in zip(questions, rows) if q.dev]),
        "held-out": score([r for q, r in zip(questions, rows) if not q.dev]),
    }


class CachedEmbedder:
    """The real embedder with a memo of encoded texts, so ablation rows do not re-encode the same questions."""

    def __init__(self, inner):
        self._inner, self._memo = inner, {}
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens
        self.encoder = getattr(inner, "encoder", None)

    def count_tokens(self, texts):
        return self._inner.count_tokens(texts)

    def token_ends(self, text):
        return self._inner.token_ends(text)

    def encode(self, texts, *, batch_size=32, progress=False):
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for t, v in zip(missing, self._inner.encode(missing, batch_size=batch_size)):
                self._memo[t] = v
        return np.stack([self._memo[t] for t in texts]) if texts else self._inner.encode([])


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, help="Index directory to build or reuse (default: a fresh temp dir).")
    ap.add_argument("--limit", type=int, help="Only the first N questions (quick checks).")
    ap.add_argument("--no-ablation", action="store_true", help="Only the full pipeline.")
    ap.add_argument("--json", type=Path, help="Also write every figure to this JSON file.")
    ap.add_argument("--encoder", choices=Settings.model_fields["encoder"].annotation.__args__,
                    help=f"Runtime that embeds (default: {Settings.model_fields['encoder'].default}).")
    args = ap.parse_args(argv)

    questions = load_questions()[: args.limit]
    tmp = None
    root = args.index
    if root is None:
        tmp = tempfile.mkdtemp(prefix="dateline-multihop-")
        root = Path(tmp)
    settings = Settings(**({"encoder": args.encoder} if args.encoder else {}))
    embedder = embedder_for(settings)
    print(f"encoder: {embedder.encoder}")
    try:
        t = time.perf_counter()
        report = index_corpus([DATA / "corpus.json"], settings=settings.model_copy(update={"index": root}),
                              embedder=embedder)
        index_seconds = time.perf_counter() - t
        print(f"indexed {report.articles} articles, {report.chunks} chunks ({report.embedded_chunks} embedded) "
              f"in {index_seconds:.1f}s into {root}")

        results: dict[str, dict] = {}
        # The full pipeline first: every question is new to the memo, so its latencies include encoding
        # and are the ones reported; the ablation rows after it reuse the question vectors.
        cached = CachedEmbedder(embedder)
        idx = Index.open(root, settings=settings.model_copy(update={"index": root}), embedder=cached)
        idx.search("warm-up question about the index", k=K)
        t = time.perf_counter()
        rows, latency = evaluate(questions, lambda q: idx.search(q, k=K))
        full_seconds = time.perf_counter() - t
        by_type = {ty: score([r for q, r in zip(questions, rows) if q.type == ty]) for ty in TYPES}
        results["+ coverage"] = split_scores(questions, rows)

        if not args.no_ablation:
            for name, switches in ABLATION.items():
                if name == "+ coverage":
                    continue
                s = settings.model_copy(update={"index": root, **switches})
                ab = Index.open(root, settings=s, embedder=cached)
                results[name] = split_scores(questions, evaluate(questions, lambda q: ab.search(q, k=K))[0])

        ms = sorted(x * 1000 for x in latency)
        p50, p95 = statistics.median(ms), ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        print(f"\n## MultiHop-RAG retrieval, top {K}, {len(questions)} questions "
              f"({sum(q.dev for q in questions)} dev, {sum(not q.dev for q in questions)} held-out)\n")
        full = results["+ coverage"]
        print(_table(["full pipeline", *COLUMNS], [[part, *full[part].row()] for part in ("full", "dev", "held-out")]))
        print("\nby question type (full set):\n")
        print(_table(["type", "n", *COLUMNS], [[ty, str(s.n), *s.row()] for ty, s in by_type.items()]))
        if len(results) > 1:
            print("\nablation (each row adds to the one above; full set / held-out):\n")
            order = [n for n in ABLATION if n in results]
            print(_table(["pipeline", *COLUMNS], [[n, *results[n]["full"].row()] for n in order]))
            print()
            print(_table(["pipeline (held-out)", *COLUMNS], [[n, *results[n]["held-out"].row()] for n in order]))
        print("\nthe bar:\n")
        print(_table(["pipeline", *COLUMNS[:6]],
                     [[n, *("—" if v is None else f"{v:.3f}" for v in vals)] for n, vals in BAR.items()]))
        print(f"\nindex {index_seconds:.1f}s ({report.chunks} chunks); query p50 {p50:.1f} ms, p95 {p95:.1f} ms "
              f"({full_seconds:.1f}s for {len(questions)}); peak memory {peak_mb:.0f} MB")
        if args.json:
            args.json.write_text(json.dumps({
                "index_seconds": index_seconds, "chunks": report.chunks, "p50_ms": p50, "p95_ms": p95,
                "peak_mb": peak_mb, "encoder": embedder.encoder,
                "results": {n: {part: s.__dict__ for part, s in r.items()} for n, r in results.items()},
                "by_type": {ty: s.__dict__ for ty, s in by_type.items()},
            }, indent=1))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
