"""Core benchmarks: Dateline's paths next to the old way of doing the same with torch, and FAISS alone.

Dateline embeds with the model exported to ONNX Runtime (``rag.onnx_encoder``; the encoder
``Settings`` chooses, or ``--encoder``). The old path, the baseline, is sentence-transformers
on torch: ``SentenceTransformer.encode``. Each Dateline path is measured next to that
baseline on the same input, in the same process, with the runs interleaved, so the ratio
holds on a busy machine, and the absolute figures show what this machine can do:

1. Index throughput: ``rag.indexing.index_corpus`` (the ordinary pipeline, rebuilt in a
   fresh directory) on the first MultiHop-RAG articles plus seeds/, in chunks/s end to end
   (and of its embedding stage), next to torch ``model.encode`` on the very same chunk
   texts. Target: end to end >= 1.8x the torch encode alone.
2. ``retrieve()`` latency (p50/p95) on the seeds index over varied questions, next to
   "torch-encode the query + FAISS search" on the same index object. Target: <= 0.6x.
   Above it, ``retrieve()`` is profiled with cProfile and the top entries printed.
3. Cold start: wall time and peak RSS of ``rag search`` and ``rag ask`` on the seeds index
   as new processes, next to a bare ``python -c "import sentence_transformers"`` (medians,
   interleaved). Targets: each <= 0.25x the import; ``rag ask`` peak RSS <= 300 MB.
4. Search alone at 100k and 1M vectors, exact (IndexFlatIP) and approximate (HNSW as the
   store makes it, ``rag.store.make_faiss_index(vectors, "hnsw")``): build time, single
   query p50/p95, recall@10 of HNSW against exact, index size and peak RSS growth.
   Vectors are real all-MiniLM-L6-v2 embeddings of MultiHop-RAG chunks, replicated with
   Gaussian noise and renormalised; queries are real MultiHop-RAG questions, embedded.
   "Source recall" also counts a noisy copy of the right real chunk as found, which
   separates near-ties among copies from real misses. HNSW is built in one call, as the
   store builds it (adding in batches makes a worse graph), and is skipped, its time
   projected by n log n, when a smaller size predicts more than ``--hnsw-budget`` seconds.

5. MultiHop-RAG fact-recall@10 (full set, dev, held-out) with each encoder: onnx-int8,
   onnx-fp32 and torch, each through ``bench/bench_multihop.py --no-ablation`` in a process
   of its own (index built fresh). Target: the chosen encoder within 0.01 of fp32.

Fairness: both models are warmed up before anything is timed; torch and Dateline runs
alternate, and throughput is the best of the rounds for each side. Other processes on
the machine slow both sides alike; the load average is printed so a reader can judge.

Usage::

    .venv/bin/python bench/bench_core.py                 # the full run (about 1.5 hours on 2 cores)
    .venv/bin/python bench/bench_core.py --quick         # a smoke run, a few minutes
    .venv/bin/python bench/bench_core.py --skip-search --skip-multihop   # steps 1-3 only, about 10 minutes
    .venv/bin/python bench/bench_core.py --encoder onnx-fp32 --sizes 100000,1000000 --hnsw-budget 900
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import Corpus, Index, SentenceTransformerEmbedder, Settings, embedder_for, load_corpus  # noqa: E402
from rag.chunking import ChunkingConfig, chunk_articles  # noqa: E402
from rag.embedding import interchangeable  # noqa: E402
from rag.indexing import index_corpus  # noqa: E402
from rag.retrieval import open_index, retrieve  # noqa: E402
from rag.store import HNSW_EF_SEARCH, make_faiss_index  # noqa: E402

SEEDS = ROOT / "seeds"
MULTIHOP = ROOT.parent / "shared" / "bench" / "multihop-rag"
GUN_QUESTION = "Who handed Alec Baldwin the gun?"
RETRIEVE_TARGET = 0.6
THROUGHPUT_TARGET = 1.8
COLD_TARGET = 0.25
ASK_RSS_TARGET_MB = 300
MULTIHOP_TOLERANCE = 0.01

# Short questions about the seed articles, to mix with the long MultiHop-RAG ones.
SEED_QUESTIONS = (
    GUN_QUESTION,
    "Was Alec Baldwin charged?",
    "involuntary manslaughter charges Rust",
    "Who was the cinematographer killed on the Rust set?",
    "What did Baldwin tell George Stephanopoulos?",
    "Did Baldwin pull the trigger?",
    "Halyna Hutchins",
    "Where was the film Rust being shot?",
    "Who is Dave Halls?",
    "How did Baldwin thank his fans after the shooting?",
    "Joel Souza wounded",
    "Does Baldwin feel guilty about the death?",
    "prop gun rehearsal New Mexico October 2021",
    "What happened on the set of Rust?",
    "Baldwin interview ABC News December 2021",
    "Who loaded the revolver?",
    "armorer Hannah Gutierrez-Reed",
    "When was Baldwin charged with manslaughter?",
    "Baldwin video message to fans",
    "What did the investigation find?",
)


# -- small measuring tools ---------------------------------------------------------------------
def percentiles_ms(seconds: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) of ``seconds``, in milliseconds."""
    p50, p95 = np.percentile(np.asarray(seconds) * 1000, [50, 95])
    return float(p50), float(p95)


def _proc_status(key: str) -> int:
    """A /proc/self/status memory field (VmRSS, VmHWM), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def peak_rss_growth(fn: Callable[[], object]) -> tuple[object, int]:
    """(fn(), how far the peak RSS rose above the RSS before the call, in bytes).

    Linux lets a process reset its peak-RSS mark (write 5 to /proc/self/clear_refs),
    so each measurement starts from the current RSS rather than the run's old peak.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _proc_status("VmRSS")
    result = fn()
    return result, max(0, _proc_status("VmHWM") - before)


def index_bytes(index) -> int:
    """Size of ``index`` serialised, as it would be written to index.faiss."""
    import faiss

    return int(faiss.serialize_index(index).nbytes)


class TimedEmbedder:
    """The real embedder, unchanged, with the time spent inside ``encode`` added up."""

    def __init__(self, inner):
        self._inner = inner
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens
        self.encoder = getattr(inner, "encoder", None)
        self.seconds = 0.0
        self.texts: list[str] = []

    def count_tokens(self, texts):
        return self._inner.count_tokens(texts)

    def token_ends(self, text):
        return self._inner.token_ends(text)

    def encode(self, texts, *, batch_size=32, progress=False):
        t0 = time.perf_counter()
        out = self._inner.encode(texts, batch_size=batch_size, progress=progress)
        self.seconds += time.perf_counter() - t0
        self.texts.extend(texts)
        return out


def raw_encode(model, texts: Sequence[str]) -> np.ndarray:
    """The baseline every embedding figure is compared with: sentence-transformers on torch, as Dateline used it."""
    return model.encode(list(texts), batch_size=32, normalize_embeddings=True)


# -- inputs --------------------------------------------------------------------------------------
def multihop_questions(n: int) -> list[str]:
    """``n`` MultiHop-RAG questions spread evenly over the file (all four question types)."""
    records = json.loads((MULTIHOP / "MultiHopRAG.json").read_text())
    step = max(1, len(records) // n)
    return [r["query"] for r in records[::step][:n]]


def varied_questions(n: int) -> list[str]:
    """Short questions about the seeds, then long MultiHop-RAG ones, ``n`` in all."""
    short = list(SEED_QUESTIONS[: min(len(SEED_QUESTIONS), n // 10 or 1)])
    return short + multihop_questions(n - len(short))


def write_multihop_subset(n_articles: int, folder: Path) -> Path:
    """The first ``n_articles`` of MultiHop-RAG's corpus.json as a collection file of their own."""
    articles = json.loads((MULTIHOP / "corpus.json").read_text())[:n_articles]
    path = folder / f"multihop-first{n_articles}.json"
    path.write_text(json.dumps(articles, ensure_ascii=False))
    return path


def chunk_texts(corpus: Corpus, embedder, settings: Settings) -> list[str]:
    """The chunk texts ``index_corpus`` makes of ``corpus``, by the same functions and settings."""
    config = ChunkingConfig(settings.chunk_tokens or embedder.max_tokens, settings.overlap_tokens)
    return [c.text for cs in chunk_articles(corpus.articles, embedder, config) for c in cs]


# -- 1. index throughput -------------------------------------------------------------------------
@dataclass
class ThroughputResult:
    articles: int
    chunks: int
    raw: float  # chunks/s of torch model.encode, best round
    embedding_stage: float  # chunks/s inside the pipeline's encode calls, best round
    end_to_end: float  # chunks/s of the whole index_corpus call, best round
    texts: list[str] = field(repr=False, default_factory=list)
    vectors: np.ndarray | None = field(repr=False, default=None)

    @property
    def ratio(self) -> float:
        return self.end_to_end / self.raw

    @property
    def stage_ratio(self) -> float:
        return self.embedding_stage / self.raw


def _raw_rate(model, texts: Sequence[str]) -> tuple[float, np.ndarray]:
    """(chunks/s, vectors) of one raw encode of ``texts``."""
    t0 = time.perf_counter()
    vectors = raw_encode(model, texts)
    return len(texts) / (time.perf_counter() - t0), vectors


def _pipeline_rates(embedder, paths: Sequence[Path], texts: Sequence[str], workdir: Path) -> tuple[float, float]:
    """(embedding-stage chunks/s, end-to-end chunks/s) of one index_corpus rebuild into a fresh directory."""
    timed = TimedEmbedder(embedder)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        t0 = time.perf_counter()
        report = index_corpus(paths, settings=Settings(index=Path(tmp)), rebuild=True, embedder=timed)
        wall = time.perf_counter() - t0
    if sorted(timed.texts) != sorted(texts):
        raise RuntimeError("the pipeline embedded other texts than the benchmark chunked")
    return report.embedded_chunks / timed.seconds, report.embedded_chunks / wall


def bench_index_throughput(embedder, model, n_articles: int, rounds: int, workdir: Path) -> ThroughputResult:
    """Pipeline vs torch encode on the same chunks; each round runs both, alternating who goes first."""
    paths = [write_multihop_subset(n_articles, workdir), SEEDS]
    corpus = load_corpus(paths)
    texts = chunk_texts(corpus, embedder, Settings())
    print(f"  {len(corpus.articles)} articles -> {len(texts)} chunks; warming the models up")
    raw_encode(model, texts[:64])
    embedder.encode(texts[:64])

    raw, stage, e2e, vectors = [], [], [], None
    for r in range(rounds):
        for side in ("raw", "pipeline") if r % 2 == 0 else ("pipeline", "raw"):
            if side == "raw":
                rate, vectors = _raw_rate(model, texts)
                raw.append(rate)
                print(f"  round {r + 1}: torch model.encode   {rate:7.1f} chunks/s")
            else:
                rates = _pipeline_rates(embedder, paths, texts, workdir)
                stage.append(rates[0])
                e2e.append(rates[1])
                print(f"  round {r + 1}: pipeline embedding   {rates[0]:7.1f} chunks/s (end to end {rates[1]:.1f})")
    return ThroughputResult(len(corpus.articles), len(texts), max(raw), max(stage), max(e2e), texts, vectors)


# -- 2. retrieve() latency -----------------------------------------------------------------------
@dataclass
class LatencyResult:
    queries: int
    chunks: int
    raw: tuple[float, float]  # p50, p95 ms
    dateline: tuple[float, float]
    own: tuple[float, float]  # retrieve()'s work with the query vector already known
    profile: str = ""

    @property
    def ratio(self) -> float:
        return self.dateline[0] / self.raw[0]

    @property
    def ratio_p95(self) -> float:
        return self.dateline[1] / self.raw[1]


def bench_retrieve_latency(embedder, model, index_dir: Path, questions: Sequence[str], k: int = 5) -> LatencyResult:
    """retrieve() vs torch encode + FAISS search, per question, alternating which runs first."""
    settings = Settings(index=index_dir)
    store = open_index(index_dir, settings).store  # the very object retrieve() searches
    for q in questions[:5]:  # warm both paths
        retrieve(q, k=k, index=index_dir, settings=settings)
        store.index.search(raw_encode(model, [q]), k)

    def raw_once(q: str) -> float:
        t0 = time.perf_counter()
        store.index.search(raw_encode(model, [q]), k)
        return time.perf_counter() - t0

    def dateline_once(q: str) -> float:
        t0 = time.perf_counter()
        retrieve(q, k=k, index=index_dir, settings=settings)
        return time.perf_counter() - t0

    raw, ours = [], []
    for i, q in enumerate(questions):
        if i % 2:
            ours.append(dateline_once(q))
            raw.append(raw_once(q))
        else:
            raw.append(raw_once(q))
            ours.append(dateline_once(q))
    own = own_work_seconds(embedder, index_dir, settings, questions, k)
    result = LatencyResult(len(questions), len(store), percentiles_ms(raw), percentiles_ms(ours), percentiles_ms(own))
    if result.ratio > RETRIEVE_TARGET:
        result.profile = profile_retrieve(index_dir, settings, questions, k)
    return result


class MemoEmbedder(TimedEmbedder):
    """The real embedder, remembering every text it encoded: a second pass costs lookups only."""

    def __init__(self, inner):
        super().__init__(inner)
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts, *, batch_size=32, progress=False):
        new = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if new:
            self._memo.update(zip(new, self._inner.encode(new, batch_size=batch_size)))
        return np.stack([self._memo[t] for t in texts])


def own_work_seconds(embedder, index_dir: Path, settings: Settings, questions: Sequence[str], k: int) -> list[float]:
    """Per question, the seconds of retrieve()'s path (open_index + Index.search) minus query encoding.

    Query encoding is the model's time and swings with machine load; the rest is Dateline's.
    """
    index = Index(open_index(index_dir, settings).store, MemoEmbedder(embedder), settings)
    for q in questions:  # untimed pass: encodes whatever texts the search asks for
        index.search(q, k)
    seconds = []
    for q in questions:
        t0 = time.perf_counter()
        open_index(index_dir, settings)
        index.search(q, k)
        seconds.append(time.perf_counter() - t0)
    return seconds


def profile_retrieve(index_dir: Path, settings: Settings, questions: Sequence[str], k: int) -> str:
    """cProfile of retrieve() over ``questions``: the top entries by own time and by cumulative time."""
    import io

    prof = cProfile.Profile()
    prof.enable()
    for q in questions:
        retrieve(q, k=k, index=index_dir, settings=settings)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(12)
    stats.sort_stats("cumulative").print_stats(r"retrieval|store|lexical|embedding|bm25s|SentenceTransformer", 20)
    return out.getvalue()


# -- 3. cold start -------------------------------------------------------------------------------
@dataclass
class ColdStartResult:
    runs: int
    seconds: dict[str, float]  # command label -> median wall seconds
    peak_mb: dict[str, float]  # command label -> largest peak RSS over the runs

    def ratio(self, label: str) -> float:
        return self.seconds[label] / self.seconds[BARE]


BARE = "import sentence_transformers"


# Runs a command as its child and reports its wall time and peak RSS. The extra process matters: a child
# forked straight from this one inherits this process's peak RSS (a gigabyte, with torch loaded) as its own
# ru_maxrss, across exec; forked from this small Python, it starts from a few megabytes.
_MEASURE = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)]))
"""


def _run(cmd: Sequence[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of ``cmd`` as a new process, from start to exit."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
    seconds, peak_mb, code = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else (0, 0, -1)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return seconds, peak_mb


def bench_cold_start(index_dir: Path, runs: int) -> ColdStartResult:
    """New-process wall time and peak RSS of ``rag search`` and ``rag ask`` vs importing sentence-transformers.

    Medians of ``runs`` rounds; each round runs the three commands, in an order that rotates.
    """
    commands = {
        "rag search": [sys.executable, "-m", "rag", "search", GUN_QUESTION, "--index", str(index_dir)],
        "rag ask": [sys.executable, "-m", "rag", "ask", GUN_QUESTION, "--index", str(index_dir)],
        BARE: [sys.executable, "-c", "import sentence_transformers"],
    }
    for cmd in commands.values():  # untimed: each then starts with its files in the page cache
        _run(cmd)
    seconds: dict[str, list[float]] = {label: [] for label in commands}
    peaks: dict[str, list[float]] = {label: [] for label in commands}
    labels = list(commands)
    for r in range(runs):
        for label in labels[r % 3:] + labels[: r % 3]:
            wall, peak = _run(commands[label])
            seconds[label].append(wall)
            peaks[label].append(peak)
    for label in labels:
        print(f"  {label}: {', '.join(f'{x:.2f}' for x in seconds[label])} s; "
              f"peak RSS {', '.join(f'{x:.0f}' for x in peaks[label])} MB")
    return ColdStartResult(runs, {k: statistics.median(v) for k, v in seconds.items()},
                           {k: max(v) for k, v in peaks.items()})


# -- 4. search at scale --------------------------------------------------------------------------
HNSW_KIND = "hnsw (M=32, efC=80)"


@dataclass
class SearchResult:
    vectors: int
    kind: str
    build_s: float | None = None  # None: same graph as the row above, or not built (see note)
    p50_ms: float | None = None
    p95_ms: float | None = None
    recall_at_10: float | None = None
    source_recall_at_10: float | None = None
    index_bytes: int | None = None
    peak_rss_bytes: int | None = None
    note: str = ""


def base_vectors(embedder, n_base: int, known: dict[str, np.ndarray]) -> np.ndarray:
    """Real embeddings of the first ``n_base`` MultiHop-RAG chunks (reusing ``known`` ones)."""
    texts = chunk_texts(load_corpus([MULTIHOP / "corpus.json"]), embedder, Settings())[:n_base]
    todo = [t for t in texts if t not in known]
    print(f"  {len(texts)} MultiHop-RAG chunks: {len(texts) - len(todo)} already embedded, embedding {len(todo)}")
    if todo:
        known = {**known, **dict(zip(todo, embedder.encode(todo)))}
    return np.stack([known[t] for t in texts]).astype(np.float32)


def replicate(base: np.ndarray, n: int, sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(``n`` unit vectors, the base row each copies): ``base`` itself, then noisy copies of random rows.

    Each copy is a base row plus N(0, sigma²) noise per dimension, renormalised.
    """
    rng = np.random.default_rng(seed)
    head = min(n, len(base))
    owner = np.concatenate([np.arange(head), rng.integers(0, len(base), n - head)])
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    out[:head] = base[:head]
    for start in range(head, n, 100_000):  # in blocks, so the noise never needs a second 1M x 384 array
        stop = min(n, start + 100_000)
        block = base[owner[start:stop]] + sigma * rng.standard_normal((stop - start, base.shape[1]), dtype=np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out, owner


def single_query_search(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, list[float]]:
    """Top-``k`` ids per query, searched one query at a time, with each search's seconds."""
    ids, seconds = np.empty((len(queries), k), dtype=np.int64), []
    for i in range(len(queries)):
        t0 = time.perf_counter()
        _, found = index.search(queries[i : i + 1], k)
        seconds.append(time.perf_counter() - t0)
        ids[i] = found[0]
    return ids, seconds


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top-k that the approximate top-k also holds."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def source_recall_at(found: np.ndarray, truth: np.ndarray, owner: np.ndarray) -> float:
    """Like recall, but a copy of the right real chunk counts: share of the exact top-k's chunks reached."""
    return float(np.mean([len(set(owner[f]) & set(owner[t])) / len(set(owner[t])) for f, t in zip(found, truth)]))


def projected_build_s(measured: tuple[int, float] | None, n: int) -> float | None:
    """HNSW build seconds at ``n``, scaled by n log n from a measured (size, seconds)."""
    if measured is None:
        return None
    m, seconds = measured
    return seconds * (n * math.log(n)) / (m * math.log(m))


def bench_search_size(vectors: np.ndarray, owner: np.ndarray, queries: np.ndarray, budget_s: float,
                      measured: tuple[int, float] | None) -> list[SearchResult]:
    """Exact and HNSW at ``len(vectors)``: build, single-query latency, recall@10, memory.

    HNSW is built in one ``make_faiss_index`` call, as the store builds it; it is skipped
    (and its build time projected) when the projection from a smaller size exceeds ``budget_s``.
    """
    n = len(vectors)
    t0 = time.perf_counter()
    flat, flat_rss = peak_rss_growth(lambda: make_faiss_index(vectors, "flat"))
    flat_build = time.perf_counter() - t0
    truth, times = single_query_search(flat, queries)
    rows = [SearchResult(n, "exact (IndexFlatIP)", flat_build, *percentiles_ms(times), index_bytes=index_bytes(flat),
                         peak_rss_bytes=flat_rss, note="reference")]
    print(f"  {n:>9,} exact: build {flat_build:.1f}s, p50 {rows[0].p50_ms:.2f} ms")
    del flat

    projected = projected_build_s(measured, n)
    if budget_s and projected is not None and projected > budget_s:
        note = (f"not built: {projected / 60:.0f} min projected from {measured[0]:,} vectors (n log n), "
                f"over the {budget_s / 60:.0f} min budget")
        print(f"  {n:>9,} hnsw: {note}")
        return rows + [SearchResult(n, HNSW_KIND, note=note)]
    t0 = time.perf_counter()
    hnsw, hnsw_rss = peak_rss_growth(lambda: make_faiss_index(vectors, "hnsw"))
    hnsw_build = time.perf_counter() - t0
    size = index_bytes(hnsw)
    for ef in (HNSW_EF_SEARCH, 4 * HNSW_EF_SEARCH):
        hnsw.hnsw.efSearch = ef
        found, times = single_query_search(hnsw, queries)
        first = ef == HNSW_EF_SEARCH
        rows.append(SearchResult(
            n, f"{HNSW_KIND}, efSearch {ef}", hnsw_build if first else None, *percentiles_ms(times),
            recall_at(found, truth), source_recall_at(found, truth, owner),
            size if first else None, hnsw_rss if first else None, "as the store searches" if first else "same graph",
        ))
        print(f"  {n:>9,} hnsw efSearch {ef}: p50 {rows[-1].p50_ms:.2f} ms, recall@10 {rows[-1].recall_at_10:.3f}"
              + (f", build {hnsw_build:.1f}s" if first else ""))
    return rows


def bench_search(embedder, sizes: Sequence[int], n_base: int, n_queries: int, sigma: float,
                 budget_s: float, known: dict[str, np.ndarray]) -> list[SearchResult]:
    base = base_vectors(embedder, n_base, known)
    queries = embedder.encode(multihop_questions(n_queries)).astype(np.float32)
    results, measured = [], None
    for n in sorted(sizes):
        vectors, owner = replicate(base, n, sigma)
        rows = bench_search_size(vectors, owner, queries, budget_s, measured)
        if rows[1].build_s is not None:
            measured = (n, rows[1].build_s)
        results.extend(rows)
        del vectors
    return results


# -- 5. MultiHop-RAG fact-recall per encoder ----------------------------------------------------
MULTIHOP_ENCODERS = ("onnx-int8", "onnx-fp32", "torch")


@dataclass
class MultihopResult:
    encoder: str
    questions: int
    fact_recall: dict[str, float]  # full / dev / held-out
    complete: float  # complete@10, full set
    mrr: float  # MRR@10, full set
    index_seconds: float
    chunks: int


def bench_multihop(limit: int | None, workdir: Path) -> list[MultihopResult]:
    """bench/bench_multihop.py --no-ablation once per encoder, each in a process of its own (fresh index)."""
    out = []
    for encoder in MULTIHOP_ENCODERS:
        report = workdir / f"multihop-{encoder}.json"
        cmd = [sys.executable, str(ROOT / "bench" / "bench_multihop.py"), "--encoder", encoder, "--no-ablation",
               "--json", str(report), *(["--limit", str(limit)] if limit else [])]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        r = json.loads(report.read_text())
        full = r["results"]["+ coverage"]
        out.append(MultihopResult(encoder, full["full"]["n"],
                                  {part: full[part]["fact_recall"] for part in ("full", "dev", "held-out")},
                                  full["full"]["complete"], full["full"]["mrr10"], r["index_seconds"], r["chunks"]))
        print(f"  {encoder}: fact-recall@10 {out[-1].fact_recall['full']:.3f} (dev {out[-1].fact_recall['dev']:.3f}, "
              f"held-out {out[-1].fact_recall['held-out']:.3f}); index {r['index_seconds']:.0f} s "
              f"[{time.perf_counter() - t0:.0f} s in all]")
    return out


# -- report --------------------------------------------------------------------------------------
def machine() -> str:
    import faiss
    import onnxruntime
    import torch

    return (f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), no GPU, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}, "
            f"faiss {faiss.__version__}, Python {platform.python_version()}")


def code_version() -> str:
    """The commit measured, and the files under rag/ that differ from it (read-only git calls)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT).stdout.rstrip("\n")

    try:
        commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--", "rag")
    except OSError:
        return "unknown (no git)"
    changed = [line[3:] for line in dirty.splitlines()]
    return commit + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def _num(x: float | None, fmt: str, unit: str = "") -> str:
    return "–" if x is None else f"{x:{fmt}}{unit}"


def _mb(n: int | None) -> str:
    return "–" if n is None else f"{n / 2**20:,.0f} MB"


def table(encoder: str, tp: ThroughputResult | None, lat: LatencyResult | None, cold: ColdStartResult | None,
          search: list[SearchResult], multihop: list[MultihopResult]) -> str:
    """The figures as Markdown, ready for docs/benchmarks.md."""
    lines = [
        f"| measure | Dateline ({encoder}) | old path (torch) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    if tp:
        lines += [
            f"| 1. indexing, {tp.chunks} chunks ({tp.articles} articles), end to end | {tp.end_to_end:.1f} chunks/s "
            f"| {tp.raw:.1f} chunks/s (`model.encode` alone) | {tp.ratio:.2f}x | >= {THROUGHPUT_TARGET} |",
            f"| 1. embedding stage of the same | {tp.embedding_stage:.1f} chunks/s | {tp.raw:.1f} chunks/s "
            f"| {tp.stage_ratio:.2f}x | |",
        ]
    if lat:
        lines += [
            f"| 2. retrieve() p50, seeds ({lat.chunks} chunks, {lat.queries} questions) | {lat.dateline[0]:.1f} ms "
            f"| {lat.raw[0]:.1f} ms (encode + FAISS) | {lat.ratio:.2f}x | <= {RETRIEVE_TARGET} |",
            f"| 2. retrieve() p95 | {lat.dateline[1]:.1f} ms | {lat.raw[1]:.1f} ms | {lat.ratio_p95:.2f}x | |",
            f"| 2. retrieve() minus query encoding (Dateline's own work), p50 / p95 | {lat.own[0]:.2f} / "
            f"{lat.own[1]:.2f} ms | | | |",
        ]
    if cold:
        for label in ("rag search", "rag ask"):
            lines.append(f"| 3. cold `{label}`, median of {cold.runs} | {cold.seconds[label]:.2f} s "
                         f"| {cold.seconds[BARE]:.2f} s (`{BARE}`) | {cold.ratio(label):.2f}x | <= {COLD_TARGET} |")
        for label in ("rag search", "rag ask"):
            lines.append(f"| 3. peak RSS, `{label}` | {cold.peak_mb[label]:.0f} MB | {cold.peak_mb[BARE]:.0f} MB "
                         f"(`{BARE}`) | | {'<= ' + str(ASK_RSS_TARGET_MB) + ' MB' if label == 'rag ask' else ''} |")
    if multihop:
        by = {m.encoder: m for m in multihop}
        fp32 = by.get("onnx-fp32")
        lines += [
            "",
            f"| encoder | MultiHop-RAG fact-recall@10: full ({multihop[0].questions} q) | dev | held-out "
            "| complete@10 | MRR@10 | index time (chunks) | vs fp32 (target: within 0.01) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m in multihop:
            delta = "" if fp32 is None or m is fp32 else f"{m.fact_recall['full'] - fp32.fact_recall['full']:+.3f}"
            lines.append(f"| {m.encoder} | {m.fact_recall['full']:.3f} | {m.fact_recall['dev']:.3f} "
                         f"| {m.fact_recall['held-out']:.3f} | {m.complete:.3f} | {m.mrr:.3f} "
                         f"| {m.index_seconds:.0f} s ({m.chunks}) | {delta} |")
    if search:
        lines += [
            "",
            "| vectors | index | build | query p50 | query p95 | recall@10 | source recall@10 | index size "
            "| peak RSS growth | note |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in search:
            lines.append(f"| {r.vectors:,} | {r.kind} | {_num(r.build_s, '.1f', ' s')} | {_num(r.p50_ms, '.2f', ' ms')} "
                         f"| {_num(r.p95_ms, '.2f', ' ms')} | {_num(r.recall_at_10, '.3f')} "
                         f"| {_num(r.source_recall_at_10, '.3f')} | {_mb(r.index_bytes)} | {_mb(r.peak_rss_bytes)} "
                         f"| {r.note} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small inputs: a smoke run in a few minutes")
    p.add_argument("--encoder", choices=Settings.model_fields["encoder"].annotation.__args__,
                   help=f"Dateline's encoder (default: {Settings.model_fields['encoder'].default}, or DATELINE_ENCODER)")
    p.add_argument("--sizes", help="vector counts for the search benchmark (default 100000,1000000)")
    p.add_argument("--articles", type=int, help="MultiHop-RAG articles to index in step 1 (default 60)")
    p.add_argument("--queries", type=int, help="questions for steps 2 and 4 (default 200)")
    p.add_argument("--base-chunks", type=int, help="real chunk embeddings to replicate in step 4 (default 3000)")
    p.add_argument("--sigma", type=float, default=0.03, help="noise per dimension added to replicas (default 0.03)")
    p.add_argument("--hnsw-budget", type=float, default=900,
                   help="skip an HNSW build projected to take longer than this many seconds; 0: no limit (default 900)")
    p.add_argument("--skip-search", action="store_true", help="leave out step 4 (FAISS at 100k and 1M vectors)")
    p.add_argument("--skip-multihop", action="store_true", help="leave out step 5 (MultiHop-RAG per encoder)")
    p.add_argument("--multihop-limit", type=int, help="questions in step 5 (default all 2,255; --quick: 300)")
    a = p.parse_args(argv)
    quick = a.quick
    a.sizes = [int(s) for s in (a.sizes or ("20000" if quick else "100000,1000000")).split(",")]
    a.articles = a.articles or (8 if quick else 60)
    a.queries = a.queries or (40 if quick else 200)
    a.base_chunks = a.base_chunks or (300 if quick else 3000)
    a.multihop_limit = a.multihop_limit or (300 if quick else None)
    a.rounds = 1 if quick else 2
    a.cold_runs = 1 if quick else 3
    return a


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.encoder:  # every Settings() below, and the `rag` processes of step 3, read it from here
        os.environ["DATELINE_ENCODER"] = args.encoder
    print(f"Dateline core benchmarks, {dt.date.today()}: {machine()}")
    print(f"code: {code_version()}")
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    embedder = embedder_for(Settings())
    model = SentenceTransformerEmbedder()._model  # the old path: sentence-transformers on torch
    print(f"Dateline's encoder: {embedder.encoder}; baseline: torch")
    with tempfile.TemporaryDirectory(prefix="dateline-bench-") as tmp:
        work = Path(tmp)
        print("1. index throughput")
        tp = bench_index_throughput(embedder, model, args.articles, args.rounds, work)

        seed_index = work / "seed-index"
        index_corpus([SEEDS], settings=Settings(index=seed_index), embedder=embedder)
        print("2. retrieve() latency")
        lat = bench_retrieve_latency(embedder, model, seed_index, varied_questions(args.queries))
        print(f"  retrieve() p50 {lat.dateline[0]:.1f} ms vs torch encode + FAISS {lat.raw[0]:.1f} ms "
              f"({lat.ratio:.2f}x); Dateline's own work p50 {lat.own[0]:.2f} ms")
        if lat.profile:
            print(f"  above {RETRIEVE_TARGET}x: cProfile of retrieve() over the same questions\n{lat.profile}")

        print("3. cold start")
        cold = bench_cold_start(seed_index, args.cold_runs)

        multihop = []
        if not args.skip_multihop:
            print("5. MultiHop-RAG fact-recall@10 per encoder" + (f" (first {args.multihop_limit} questions)"
                                                                 if args.multihop_limit else ""))
            multihop = bench_multihop(args.multihop_limit, work)

    search = []
    if not args.skip_search:
        print("4. search at scale")
        known = dict(zip(tp.texts, tp.vectors)) if interchangeable(embedder.encoder, "torch") else {}
        search = bench_search(embedder, args.sizes, args.base_chunks, args.queries, args.sigma, args.hnsw_budget,
                              known)

    print(f"\nload average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    python = os.path.relpath(sys.executable, Path.cwd())
    print(f"\ncommand: {' '.join([python, *sys.argv])}")
    print(table(embedder.encoder, tp, lat, cold, search, multihop))


if __name__ == "__main__":
    main()
