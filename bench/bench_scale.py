"""Past one machine, measured: the PostgreSQL + pgvector store against FAISS, filtered vector search at
200k-1M vectors, and embedding as a Ray job against embedding here.

1. MultiHop-RAG (609 articles, 2,255 questions): the same index (same chunks, same vectors) in FAISS
   and in PostgreSQL, searched through ``Index.search`` question by question, the stores
   interleaved: Hits@10, MRR@10, fact-recall@10 (upstream's metric, bench/bench_multihop.py) and
   query p50/p95 (question vectors computed once beforehand, so latency is the store's and the
   ranking's work). The lexical ranking is measured twice on PostgreSQL: BM25 with bm25s's
   statistics kept in tables (the store's), and PostgreSQL's own ``ts_rank`` over
   ``to_tsvector('english', ...)`` (a column this script adds), each alone ("BM25 only") and in
   the full pipeline, next to bm25s in the FAISS store.
2. Filtered vector search: real MultiHop-RAG chunk embeddings copied with Gaussian noise (sigma 0.03,
   as bench/bench_core.py does) up to ``--vectors`` rows, each given a random day of 1,000; windows
   keeping 100%, 10% and 1% of the rows; 200 real questions. For each: recall@10 against exact
   search over the allowed rows (and source recall, where a copy of the right chunk counts), how
   often k rows came back, latency p50/p95, and which route the store took; beside it pgvector
   alone (the same SQL without the store's rule: default ef_search 40, the planner's choice) and
   the FAISS store's filtered HNSW search on the same vectors.
3. Ray: the first ``--ray-articles`` MultiHop-RAG articles' chunks embedded here and as a Ray Data
   job on a local Ray (one encoder per actor, one thread each), interleaved: chunks/s, and whether
   the vectors are equal.

Usage::

    .venv/bin/python bench/bench_scale.py                          # everything (about 30 minutes here)
    .venv/bin/python bench/bench_scale.py --limit 300 --vectors 50000 --skip-ray   # a quick look
    .venv/bin/python bench/bench_scale.py --faiss /tmp/mh --vectors 1000000   # reuse a MultiHop index
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

import bench_multihop as mh  # noqa: E402
from rag import Article, Index, Settings, Store, embedder_for, load_corpus  # noqa: E402
from rag.chunking import ChunkingConfig, chunk_articles  # noqa: E402
from rag.embed_jobs import LOCAL, _start, encode_local, encode_on_ray  # noqa: E402
from rag.pgconnect import HNSW_EF_CONSTRUCTION, HNSW_M, article_key, connect  # noqa: E402
from rag.pglexical import PgLexical  # noqa: E402
from rag.pgstore import PgStore  # noqa: E402
from rag.pgwrite import _vector_index, create_schema  # noqa: E402
from rag.indexing import index_corpus  # noqa: E402
from rag.faisswrite import make_faiss_index  # noqa: E402
from rag.manifest import FORMAT_VERSION  # noqa: E402
from rag.store import _EMBED_FORMAT  # noqa: E402

K = 10
BM25_ONLY = dict(dense=False, lexical=True, sentences=False, metadata=False, coverage=False)


def pct(seconds) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in seconds)
    return statistics.median(ms), ms[min(len(ms) - 1, int(0.95 * len(ms)))]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class TsRankLexical(PgLexical):
    """PostgreSQL's own ranking: chunks matching any of the question's words (``@@``), by ``ts_rank``."""

    def search(self, query: str, k: int, allowed=None):
        import re

        words = sorted(set(re.findall(r"(?u)\b\w\w+\b", query.lower())))
        none = (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))
        if not words or (allowed is not None and not allowed.count):
            return none
        params = {"q": " | ".join(words), "k": k}
        pred = allowed.where.sql(params) if allowed is not None else "TRUE"
        rows = self.store._execute(
            f"SELECT c.article_id, c.id, c.start_char, c.end_char, c.position, c.seq, ts_rank(c.pg_tsv, q) AS s "
            f"FROM dateline_chunks c, to_tsquery('english', %(q)s) q WHERE c.pg_tsv @@ q AND {pred} "
            f"ORDER BY s DESC, c.seq LIMIT %(k)s", params).fetchall()
        if not rows:
            return none
        return np.array([r[6] for r in rows], dtype=np.float32), self.store._intern([r[:6] for r in rows])


def add_ts_rank_column(url: str) -> float:
    """PostgreSQL's own text search document per chunk (headline, publisher, passage), with a GIN index."""
    t = time.perf_counter()
    conn = connect(url)
    conn.execute("ALTER TABLE dateline_chunks ADD COLUMN IF NOT EXISTS pg_tsv tsvector")
    conn.execute("UPDATE dateline_chunks c SET pg_tsv = to_tsvector('english', a.title || ' ' || coalesce(p.name, '') "
                 "|| ' ' || substr(a.body, c.start_char + 1, c.end_char - c.start_char)) FROM dateline_articles a "
                 "LEFT JOIN dateline_publishers p ON p.id = a.publisher_id WHERE a.id = c.article_id")
    conn.execute("CREATE INDEX IF NOT EXISTS dateline_chunks_pg_tsv ON dateline_chunks USING gin (pg_tsv)")
    conn.execute("ANALYZE dateline_chunks")
    conn.close()
    return time.perf_counter() - t


def sizes(url: str) -> dict[str, int]:
    """Bytes on disk of each of the index's tables (with their TOAST) and indexes, by name."""
    conn = connect(url)
    try:
        rows = conn.execute(
            "SELECT c.relname, CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname LIKE 'dateline%%' AND c.relkind IN ('r', 'i') "
            "ORDER BY 2 DESC").fetchall()
    finally:
        conn.close()
    return {name: int(size) for name, size in rows}


def print_sizes(what: str, got: dict[str, int], chunks: int) -> None:
    print(f"{what}, bytes per chunk (of {chunks:,}): " + ", ".join(
        f"{name.removeprefix('dateline_')} {size / chunks:,.0f}" for name, size in got.items() if size >= chunks)
        + f"; all {sum(got.values()) / chunks:,.0f}")


def server(args, workdir: Path):
    """(make_database(name) -> url, what it is): an existing server given by --pg, or pgserver here."""
    if args.pg:
        base = args.pg
        what = f"the server at {args.pg.split('@')[-1]}"
    else:
        import pgserver

        srv = pgserver.get_server(workdir / "pg", cleanup_mode="delete")
        base = srv.get_uri()
        what = "pgserver (PostgreSQL 16.2, pgvector 0.6.2) on this machine"

    def make(name: str) -> str:
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        parts = base.split("?", 1)
        head = parts[0].rsplit("/", 1)[0] + "/" + name
        return head + ("?" + parts[1] if len(parts) > 1 else "")

    return make, what


# -- 1. MultiHop-RAG on both stores -------------------------------------------------------------------------

def multihop(args, make_db, workdir: Path, results: dict) -> dict[str, np.ndarray]:
    settings = Settings()
    cached = mh.CachedEmbedder(embedder_for(settings))
    faiss_dir = args.faiss or workdir / "faiss"
    t = time.perf_counter()
    report = index_corpus([mh.DATA / "corpus.json"], settings=settings.model_copy(update={"index": faiss_dir}),
                          embedder=cached)
    faiss_s = time.perf_counter() - t
    store = Store.open(faiss_dir)
    vectors = store.vectors()
    for i in range(len(store)):  # a reused index: its vectors answer the PostgreSQL run's encode calls
        cached._memo.setdefault(store.chunk(i).text, vectors[i])
    url = make_db("bench_multihop")
    t = time.perf_counter()
    pg_report = index_corpus([mh.DATA / "corpus.json"], settings=settings.model_copy(update={"index": url}),
                             embedder=cached)
    pg_s = time.perf_counter() - t
    print(f"FAISS index: {report.chunks} chunks, {report.embedded_chunks} embedded, {faiss_s:.1f}s; PostgreSQL: "
          f"{pg_report.chunks} chunks written in {pg_s:.1f}s ({pg_report.embedded_chunks} vectors from the same encoder "
          f"calls, memoised)")
    footprint = sizes(url)
    print_sizes("PostgreSQL tables and indexes (no HNSW below 50,000 chunks)", footprint, pg_report.chunks)
    ts_s = add_ts_rank_column(url)
    print(f"ts_rank column (to_tsvector('english', ...)) and its GIN index: {ts_s:.1f}s")

    questions = mh.load_questions()[: args.limit]
    cached.encode([q.query for q in questions], batch_size=64)  # question vectors once: latency is the stores' work
    ts_store = PgStore.open(url)
    ts_store.lexical = TsRankLexical(ts_store)
    runs = {
        "full pipeline": {"FAISS (bm25s)": Index.open(faiss_dir, settings=settings, embedder=cached),
                          "PostgreSQL (BM25 in SQL)": Index.open(url, settings=settings, embedder=cached),
                          "PostgreSQL (ts_rank)": Index(ts_store, cached, settings)},
    }
    bm = settings.model_copy(update=BM25_ONLY)
    ts_only = PgStore.open(url)
    ts_only.lexical = TsRankLexical(ts_only)
    runs["BM25 only"] = {"FAISS (bm25s)": Index.open(faiss_dir, settings=bm, embedder=cached),
                         "PostgreSQL (BM25 in SQL)": Index.open(url, settings=bm, embedder=cached),
                         "PostgreSQL (ts_rank)": Index(ts_only, cached, bm)}
    out: dict = {}
    for pipeline, indexes in runs.items():
        rows = {name: [] for name in indexes}
        lat = {name: [] for name in indexes}
        same = 0
        for idx in indexes.values():
            idx.search("warm-up question about the index", k=K)
        for q in questions:
            got = {}
            for name, idx in indexes.items():
                t = time.perf_counter()
                hits = idx.search(q.query, k=K)
                lat[name].append(time.perf_counter() - t)
                got[name] = hits
                texts = [h.text for h in hits]
                hit10, hit4, ap, rr = mh.paper_metrics(texts, q.facts)
                fr = mh.fact_recall(texts, q.facts)
                rows[name].append((hit10, hit4, ap, rr, fr, fr == 1.0, len(q.urls & {h.url for h in hits}) / len(q.urls)))
            keys = [[(h.source, h.start) for h in got[n]] for n in ("FAISS (bm25s)", "PostgreSQL (BM25 in SQL)")]
            same += keys[0] == keys[1]
        out[pipeline] = {name: dict(mh.score(rows[name]).__dict__, p50_ms=pct(lat[name])[0], p95_ms=pct(lat[name])[1])
                         for name in indexes}
        out[pipeline]["same top 10, FAISS and PostgreSQL BM25"] = same / len(questions)
    print(f"\n## 1. MultiHop-RAG, {len(questions)} questions, top {K} (load {load()})\n")
    print("| pipeline | store | Hits@10 | MRR@10 | fact-recall@10 | Hits@4 | MAP@10 | complete@10 | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for pipeline, stores in out.items():
        for name, s in stores.items():
            if isinstance(s, dict):
                print(f"| {pipeline} | {name} | {s['hits10']:.3f} | {s['mrr10']:.3f} | {s['fact_recall']:.3f} | "
                      f"{s['hits4']:.3f} | {s['map10']:.3f} | {s['complete']:.3f} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} |")
    for pipeline, stores in out.items():
        print(f"{pipeline}: the same top 10 (sources and offsets, in order) from FAISS and PostgreSQL for "
              f"{stores['same top 10, FAISS and PostgreSQL BM25']:.1%} of questions")
    results["multihop"] = dict(out, index_seconds={"faiss": faiss_s, "postgresql_write": pg_s, "ts_rank_column": ts_s},
                               chunks=report.chunks, bytes=footprint)
    return {"vectors": vectors, "questions": cached.encode([q.query for q in questions[:200]])}


# -- 2. filtered vector search at scale --------------------------------------------------------------------

def replicate(base: np.ndarray, n: int, sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n unit vectors, the base row each copies): ``base`` itself, then noisy copies (as bench_core.py)."""
    rng = np.random.default_rng(seed)
    head = min(n, len(base))
    owner = np.concatenate([np.arange(head), rng.integers(0, len(base), n - head)])
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    out[:head] = base[:head]
    for start in range(head, n, 100_000):
        stop = min(n, start + 100_000)
        block = base[owner[start:stop]] + sigma * rng.standard_normal((stop - start, base.shape[1]), dtype=np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out, owner


def load_vectors(url: str, vecs: np.ndarray, days: np.ndarray, day0: dt.date) -> tuple[float, float]:
    """The store's tables filled straight from arrays: one article per day, one chunk per vector; then the HNSW
    index as the writer builds it. Returns (load seconds, HNSW build seconds)."""
    from pgvector.psycopg import register_vector

    t = time.perf_counter()
    conn = connect(url)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    n_days = int(days.max()) + 1
    counts = np.bincount(days, minlength=n_days)
    with conn.transaction():
        create_schema(conn, vecs.shape[1])
        conn.execute("CREATE UNLOGGED TABLE staging (article_id bigint, id bigint, published date, embedding vector(%d))"
                     % vecs.shape[1])
        with conn.cursor().copy("COPY dateline_articles (id, source, content_id, meta_hash, title, published, body, "
                                "n_chunks) FROM STDIN") as copy:
            for d in range(n_days):
                copy.write_row((article_key(f"day-{d}"), f"day-{d}", f"c{d}", "", f"day {d}",
                                day0 + dt.timedelta(days=d), "", int(counts[d])))
        keys = [article_key(f"day-{d}") for d in range(n_days)]
        with conn.cursor().copy("COPY staging FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "date", "vector"])
            for i in range(len(vecs)):
                copy.write_row((keys[days[i]], i, day0 + dt.timedelta(days=int(days[i])), vecs[i]))
        conn.execute("INSERT INTO dateline_chunks (article_id, id, position, start_char, end_char, published, embedding, "
                     "terms, n_terms, seq) SELECT article_id, id, 0, 0, 0, published, embedding, ''::tsvector, 0, id "
                     "FROM staging")
        conn.execute("DROP TABLE staging")
        conn.execute("INSERT INTO dateline_days SELECT published, publisher_id, count(*) FROM dateline_chunks GROUP BY 1, 2")
        meta = {"format_version": FORMAT_VERSION, "store": "postgresql", "model": "sentence-transformers/all-MiniLM-L6-v2",
                "encoder": "onnx-fp32", "dimension": vecs.shape[1], "chunking": {"max_tokens": 256, "overlap_tokens": 48},
                "embed_format": _EMBED_FORMAT, "index_kind": "hnsw", "corpus_paths": [], "version": 1,
                "next_seq": len(vecs), "counts": {"articles": n_days, "chunks": len(vecs), "terms": 0}}
        conn.execute("INSERT INTO dateline_meta SELECT k, v FROM jsonb_each(%s::jsonb) AS e(k, v)", (json.dumps(meta),))
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    with conn.transaction():
        _vector_index(conn, "hnsw", len(vecs), vecs.shape[1])
    built = time.perf_counter() - t
    conn.execute("VACUUM ANALYZE dateline_chunks")
    conn.close()
    return loaded, built


def filtered(args, make_db, real: dict, results: dict) -> None:
    n = args.vectors
    vecs, owner = replicate(real["vectors"], n, 0.03)
    rng = np.random.default_rng(1)
    days = rng.integers(0, 1000, n)
    day0 = dt.date(2020, 1, 1)
    queries = real["questions"][: args.queries]
    url = make_db("bench_vectors")
    loaded, built = load_vectors(url, vecs, days, day0)
    print(f"\n## 2. Filtered vector search, {n:,} vectors (noisy copies of {len(real['vectors']):,} real chunk "
          f"embeddings), {len(queries)} questions, k = {K} (load {load()})\n")
    print(f"PostgreSQL: tables filled in {loaded:.0f}s, HNSW (m {HNSW_M}, ef_construction {HNSW_EF_CONSTRUCTION}) "
          f"built in {built:.0f}s")
    footprint = sizes(url)
    print_sizes("PostgreSQL (vectors only: no terms, no text)", footprint, n)
    faiss_store = None
    if not args.no_faiss:
        t = time.perf_counter()
        index = make_faiss_index(vecs, "hnsw")
        print(f"FAISS: HNSW (M 32, efConstruction 80) built in {time.perf_counter() - t:.0f}s")
        rows = np.stack([np.zeros(n), np.zeros(n), np.zeros(n), np.arange(n)], axis=1).astype(np.int64)
        faiss_store = Store(Path("."), Path("."), {"index_kind": "hnsw"}, [Article("a", "a", "t", None, "")], rows, index)
    store = PgStore.open(url)
    raw = connect(url)
    out = {}
    print("\n| window (share of rows) | search | recall@10 | source recall@10 | k rows returned | mean rows | p50 ms | p95 ms | routes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for share, span in (("100%", None), ("10%", 100), ("1%", 10)):
        mask = np.ones(n, dtype=bool) if span is None else days < span
        allowed_ids = np.flatnonzero(mask)
        sel = None if span is None else store.facts().allowed(day0, day0 + dt.timedelta(days=span - 1), set(), set())
        assert sel is None or len(sel) == len(allowed_ids)
        truth = []
        for q in queries:
            s = vecs[allowed_ids] @ q
            truth.append(allowed_ids[np.argsort(-s, kind="stable")[:K]])
        measured = {}
        runs = {"store (PostgreSQL)": [], "pgvector alone": []}
        if faiss_store is not None:
            runs["store (FAISS)"] = []
        lat = {name: [] for name in runs}
        routes: Counter = Counter()
        for q in queries:
            t = time.perf_counter()
            _, ids = store.search(q, K, sel)
            lat["store (PostgreSQL)"].append(time.perf_counter() - t)
            routes[store.route] += 1
            runs["store (PostgreSQL)"].append(np.array([store._chunk_keys[int(i)][1] for i in ids], dtype=np.int64))
            pred = "TRUE" if span is None else "published BETWEEN %(lo)s AND %(hi)s"
            t = time.perf_counter()
            got = raw.execute(f"SELECT id FROM dateline_chunks WHERE {pred} ORDER BY embedding <#> %(q)s LIMIT {K}",
                              {"q": q, "lo": day0, "hi": day0 + dt.timedelta(days=(span or 1) - 1)}).fetchall()
            lat["pgvector alone"].append(time.perf_counter() - t)
            runs["pgvector alone"].append(np.array([r[0] for r in got], dtype=np.int64))
            if faiss_store is not None:
                t = time.perf_counter()
                _, fids = faiss_store.search(q, K, None if span is None else allowed_ids)
                lat["store (FAISS)"].append(time.perf_counter() - t)
                runs["store (FAISS)"].append(fids)
        for name, found in runs.items():
            recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)])
            source = np.mean([len(set(owner[f]) & set(owner[t])) / len(set(owner[t])) for f, t in zip(found, truth)])
            full = np.mean([len(f) == K for f in found])
            mean_rows = np.mean([len(f) for f in found])
            p50, p95 = pct(lat[name])
            route = ", ".join(f"{r} {c}" for r, c in sorted(routes.items())) if name == "store (PostgreSQL)" else ""
            print(f"| {share} ({len(allowed_ids):,}) | {name} | {recall:.3f} | {source:.3f} | {full:.0%} | {mean_rows:.1f} | "
                  f"{p50:.1f} | {p95:.1f} | {route} |")
            measured[name] = {"recall": recall, "source_recall": source, "k_rows": full, "mean_rows": mean_rows,
                              "p50_ms": p50, "p95_ms": p95, "routes": dict(routes) if route else None}
        out[share] = measured
    raw.close()
    results["filtered"] = {"vectors": n, "load_s": loaded, "hnsw_build_s": built, "bytes": footprint, "windows": out}


# -- 3. Ray against local --------------------------------------------------------------------------------

def ray_vs_local(args, results: dict) -> None:
    import ray

    emb = embedder_for(Settings())
    corpus = load_corpus([mh.DATA / "corpus.json"])
    articles = list(corpus.articles[: args.ray_articles])
    chunks = chunk_articles(articles, emb, ChunkingConfig(emb.max_tokens, 48))
    texts = [c.text for cs in chunks for c in cs]
    emb.encode(texts[:32])  # warm
    t = time.perf_counter()
    local_a = encode_local(emb, texts, 32, False)
    local_1 = time.perf_counter() - t
    t = time.perf_counter()
    _start(ray, LOCAL)
    started = time.perf_counter() - t
    try:
        t = time.perf_counter()
        on_ray = encode_on_ray(emb, texts, batch_size=32)
        ray_s = time.perf_counter() - t
    finally:
        ray.shutdown()
    t = time.perf_counter()
    local_b = encode_local(emb, texts, 32, False)
    local_2 = time.perf_counter() - t
    local_s = (local_1 + local_2) / 2
    equal = bool(np.array_equal(local_a, on_ray) and np.array_equal(local_b, on_ray))
    diff = float(np.abs(local_a - on_ray).max())
    print(f"\n## 3. Embedding {len(texts):,} chunks ({len(articles)} MultiHop-RAG articles), onnx-fp32 (load {load()})\n")
    print("| run | seconds | chunks/s | vs local |")
    print("|---|---|---|---|")
    print(f"| local, 1 process ({len(os.sched_getaffinity(0))} threads), mean of 2 runs around the Ray one | "
          f"{local_s:.1f} | {len(texts) / local_s:.1f} | 1.00x |")
    print(f"| Ray Data job, local Ray, {len(os.sched_getaffinity(0))} actors x 1 thread (actor start included) | "
          f"{ray_s:.1f} | {len(texts) / ray_s:.1f} | {local_s / ray_s:.2f}x |")
    print(f"| the same with ray.init ({started:.1f}s) | {ray_s + started:.1f} | {len(texts) / (ray_s + started):.1f} | "
          f"{local_s / (ray_s + started):.2f}x |")
    print(f"\nvectors equal to the local run's, bit for bit: {equal} (largest difference {diff:.1e})")
    results["ray"] = {"chunks": len(texts), "local_s": local_s, "ray_s": ray_s, "ray_init_s": started,
                      "equal": equal, "max_abs_diff": diff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", help="an existing PostgreSQL server (URL of a database to connect to for creating the "
                                 "benchmark's databases); default: pgserver in a temporary directory")
    ap.add_argument("--faiss", type=Path, help="build or reuse the FAISS MultiHop-RAG index here")
    ap.add_argument("--limit", type=int, help="only the first N questions")
    ap.add_argument("--vectors", type=int, default=200_000, help="rows for the filtered search (default 200,000)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ray-articles", type=int, default=150)
    ap.add_argument("--no-faiss", action="store_true", help="skip the FAISS HNSW reference in part 2")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-vectors", action="store_true")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    args = ap.parse_args(argv)
    print(f"bench_scale: {dt.datetime.now().isoformat(timespec='seconds')}, {os.cpu_count()} cores, load {load()}")
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="dateline-scale-") as tmp:
        workdir = Path(tmp)
        make_db, what = server(args, workdir)
        print(f"PostgreSQL: {what}")
        real = multihop(args, make_db, workdir, results)
        if not args.skip_vectors:
            filtered(args, make_db, real, results)
        if not args.skip_ray:
            ray_vs_local(args, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
