"""How pgvector's HNSW graph settings trade recall for time: the sweep behind rag.pgconnect.HNSW_M.

bench_scale.py's 200,000 vectors (noisy copies of MultiHop-RAG's real chunk
embeddings), unfiltered, its first 200 questions; for each graph (m,
ef_construction) the build time and size, then recall@10 against exact search
and latency at several ``hnsw.ef_search``. Not part of ``make bench-scale``
(about 6 minutes here); its figures are in docs/benchmarks.md.

    .venv/bin/python bench/sweep_hnsw.py --faiss /tmp/mh   # reuse (or build) a MultiHop-RAG FAISS index there
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

import bench_multihop as mh  # noqa: E402
import bench_scale as bs  # noqa: E402
import rag.pgwrite as pgwrite  # noqa: E402
from rag import Settings, Store, embedder_for, index_corpus  # noqa: E402
from rag.pgconnect import connect  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faiss", type=Path, help="build or reuse the FAISS MultiHop-RAG index here")
    ap.add_argument("--vectors", type=int, default=200_000)
    ap.add_argument("--graphs", default="16:64,32:128", help="m:ef_construction pairs (default 16:64,32:128)")
    ap.add_argument("--ef", default="128,200,300,400,600,1000")
    args = ap.parse_args(argv)
    print(f"sweep_hnsw: {dt.datetime.now().isoformat(timespec='seconds')}, load {bs.load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="dateline-sweep-") as tmp:
        faiss_dir = args.faiss or Path(tmp) / "faiss"
        emb = embedder_for(Settings())
        index_corpus([mh.DATA / "corpus.json"], settings=Settings(index=faiss_dir), embedder=emb)
        qs = emb.encode([q.query for q in mh.load_questions()[:200]], batch_size=64)
        vecs, _ = bs.replicate(Store.open(faiss_dir).vectors(), args.vectors, 0.03)
        days = np.random.default_rng(1).integers(0, 1000, len(vecs))
        truth = [np.argsort(-(vecs @ q), kind="stable")[:10] for q in qs]
        make, what = bs.server(argparse.Namespace(pg=None), Path(tmp))
        print(f"PostgreSQL: {what}; {len(vecs):,} vectors, {len(qs)} questions, unfiltered, k = 10")
        for pair in args.graphs.split(","):
            m, efc = (int(x) for x in pair.split(":"))
            pgwrite.HNSW_M, pgwrite.HNSW_EF_CONSTRUCTION = m, efc
            url = make(f"sweep_{m}_{efc}")
            _, built = bs.load_vectors(url, vecs, days, dt.date(2020, 1, 1))
            size = bs.sizes(url).get("dateline_chunks_embedding", 0) / len(vecs)
            print(f"\nm {m}, ef_construction {efc}: built in {built:.0f}s, {size:,.0f} bytes per vector", flush=True)
            conn = connect(url)
            for ef in (int(x) for x in args.ef.split(",")):
                conn.execute(f"SET hnsw.ef_search = {ef}")
                lat, rec = [], []
                for q, t in zip(qs, truth):
                    t0 = time.perf_counter()
                    got = conn.execute("SELECT id FROM dateline_chunks ORDER BY embedding <#> %s LIMIT 10", (q,)).fetchall()
                    lat.append(time.perf_counter() - t0)
                    rec.append(len({r[0] for r in got} & set(t)) / 10)
                p50, p95 = bs.pct(lat)
                print(f"  ef_search {ef}: recall@10 {np.mean(rec):.3f}, p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
            conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
