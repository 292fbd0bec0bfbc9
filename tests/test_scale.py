"""The same index on PostgreSQL + pgvector (a real server, started once by pgserver) and embedding on Ray.

The seeds answer the same on both stores; date filters apply before the top k;
an unchanged re-index writes nothing; a narrow date window returns k rows even
where pgvector's filtered HNSW walk does not; a kill during indexing leaves the
old state answering; ``rag index --ray`` writes the vectors a local run writes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

import numpy as np
import pytest

from rag import (
    Article, ChunkingConfig, Corpus, HashEmbedder, Index, IndexNotFound, InvalidQuery, ModelMismatch, RagError,
    Settings, Store, answer, index_corpus, retrieve,
)
from rag.lexical import LexicalIndex
from rag.pgconnect import article_key, as_array, connect, redact
from rag.pgstore import PgStore
from rag.pgwrite import build_pg_index
from rag.indexing import remove_articles
from rag.faisswrite import build_index
from tests.conftest import GUN, MULTIHOP, ROOT, SEEDS

GUN_QUESTION = "Who handed Alec Baldwin the gun?"


def _rag(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, **(env or {})), timeout=timeout)


def _questions() -> list[str]:
    return [json.loads(line)["question"] for line in (ROOT / "tests" / "questions.jsonl").read_text().splitlines()]


def _writes(url: str) -> list[tuple]:
    """Every row's (table, transaction that wrote it, place): any insert, update or delete changes this."""
    conn = connect(url)
    try:
        return [(t, *r) for t in ("dateline_meta", "dateline_articles", "dateline_chunks", "dateline_terms",
                                  "dateline_days", "dateline_publishers")
                for r in conn.execute(f"SELECT xmin::text, ctid::text FROM {t} ORDER BY ctid").fetchall()]
    finally:
        conn.close()


# -- the seeds, with the real model, on both stores ---------------------------------------------------------

def test_the_gun_question_is_answered_from_postgresql(pg_seed_url, seed_index):
    hits = retrieve(GUN_QUESTION, k=5, index=pg_seed_url)
    assert (hits[0].source, hits[0].date) == (GUN, dt.date(2021, 12, 2))
    assert "Dave Halls handed him the prop weapon" in hits[0].text
    article = (SEEDS / GUN).read_text().split(" ", 3)[3]
    assert article[hits[0].start : hits[0].end] == hits[0].text
    a = answer(GUN_QUESTION, index=pg_seed_url)  # analysis, reader and composer, reading the database
    assert not a.refused and "Halls" in a.text
    c = a.citations[0]
    assert (c.n, c.source, c.date) == (1, GUN, dt.date(2021, 12, 2))
    assert article[c.start : c.end] == c.quote and c.quote in a.text
    f = answer(GUN_QUESTION, index=seed_index)  # the same answer from FAISS, word for word
    assert (a.text, [(c.source, c.date, c.start, c.end) for c in a.citations]) == \
        (f.text, [(c.source, c.date, c.start, c.end) for c in f.citations])


def test_every_labelled_question_ranks_and_answers_the_same_on_both_stores(seed_index, pg_seed_url, real_embedder):
    faiss = Index.open(seed_index, embedder=real_embedder)
    pg = Index.open(pg_seed_url, embedder=real_embedder)
    assert isinstance(faiss.store, Store) and isinstance(pg.store, PgStore)
    assert faiss.stats() == pg.stats()
    for q in _questions():
        a, b = faiss.search(q, k=5), pg.search(q, k=5)
        assert [(h.source, h.start, h.end, h.date) for h in a] == [(h.source, h.start, h.end, h.date) for h in b], q
        np.testing.assert_allclose([h.similarity for h in a], [h.similarity for h in b], atol=1e-5)
        x, y = answer(q, index=faiss), answer(q, index=pg)
        assert (x.text, x.refused, [(c.source, c.date, c.quote) for c in x.citations]) == \
            (y.text, y.refused, [(c.source, c.date, c.quote) for c in y.citations]), q


def test_date_filters_apply_before_top_k_on_postgresql(pg_seed_url, seed_index, real_embedder):
    hits = retrieve(GUN_QUESTION, k=5, since="2021-12-20", until=dt.date(2022, 1, 31), index=pg_seed_url)
    assert len(hits) == 5  # two articles in range hold 8 chunks: k results, all in range
    assert {h.source for h in hits} == {"000_e92e8a6dc09ab106.txt", "001_c4fdab69a0ffd4c7.txt"}
    assert retrieve("charged", k=3, since="2023-01-01", index=pg_seed_url)[0].date == dt.date(2023, 1, 31)
    assert retrieve("gun", k=3, since="2024-01-01", index=pg_seed_url) == []
    idx = Index.open(pg_seed_url)
    only = idx.search(GUN_QUESTION, k=5, sources=["003_8c421e937e136dee.txt"])
    assert only and {h.source for h in only} == {"003_8c421e937e136dee.txt"}
    faiss = Index.open(seed_index, embedder=real_embedder)
    for window in [(dt.date(2021, 12, 20), dt.date(2022, 1, 31)), (None, dt.date(2021, 12, 3)), (dt.date(2023, 1, 1), None)]:
        assert len(idx.allowed(*window)) == len(faiss.allowed(*window)) > 0
    assert len(idx.allowed(sources=[GUN], publishers=["nobody"])) == len(faiss.allowed(sources=[GUN])) > 0


def test_bm25_in_postgresql_scores_as_bm25s_does(seed_index, pg_seed_url):
    """Oracle: the store's SQL BM25 (terms and statistics in tables) against bm25s over the same chunks."""
    faiss, pg = Store.open(seed_index), PgStore.open(pg_seed_url)
    assert isinstance(faiss.lexical, LexicalIndex)
    key = lambda store, ids: [(store.chunk(int(i)).source, store.chunk(int(i)).start) for i in ids]  # noqa: E731
    for q in ["Who handed Alec Baldwin the gun?", "involuntary manslaughter charges Hutchins", "Rust armourer",
              "gun gun gun", "zyzzyva"]:
        s1, i1 = faiss.lexical.search(q, 10)
        s2, i2 = pg.lexical.search(q, 10)
        np.testing.assert_allclose(s2, s1, rtol=1e-4)
        assert sorted(key(pg, i2)) == sorted(key(faiss, i1)), q
        vocab, idf = faiss.lexical._bm25.vocab_dict, faiss.lexical._sentences.idf
        stems = pg.lexical.stems(q)
        known, unknown = pg.lexical.term_weights(q)
        assert known == pytest.approx({w: float(idf[vocab[w]]) for w in stems if w in vocab})
        assert unknown == [w for w in stems if w not in vocab]


def test_bm25_over_only_the_rarest_terms_is_exact_whenever_the_bound_says_so(seed_index, pg_seed_url):
    """Past ``exact_postings`` the candidates are the chunks of the rarest terms; when the k-th score reaches
    what a chunk of the other terms alone could score, that top k must be bm25s's top k."""
    faiss, pg = Store.open(seed_index), PgStore.open(pg_seed_url)
    pg.lexical.exact_postings, pg.lexical.candidate_postings = 0, 3
    exact = 0
    for q in ["Hutchins Baldwin gun", "Halls armourer Gutierrez-Reed said", "involuntary manslaughter the film",
              "Stephanopoulos interview trigger", "Rust set shooting New Mexico", "Baldwin said"]:
        before = pg.lexical.approximate
        for k in (1, 3, 10):
            s2, i2 = pg.lexical.search(q, k)
            if pg.lexical.approximate == before:
                s1, i1 = faiss.lexical.search(q, k)
                np.testing.assert_allclose(s2, s1, rtol=1e-4)
                assert [(pg.chunk(int(i)).source, pg.chunk(int(i)).start) for i in i2] == \
                    [(faiss.chunk(int(i)).source, faiss.chunk(int(i)).start) for i in i1]
                exact += 1
            before = pg.lexical.approximate
    assert 0 < exact and pg.lexical.approximate > 0  # both cases happened


def test_an_unchanged_reindex_writes_nothing(pg_url, seeds_copy, real_embedder):
    s = Settings(index=pg_url)
    first = index_corpus([seeds_copy], settings=s, embedder=real_embedder)
    assert first.embedded_chunks == first.chunks > 0 and first.articles == 5
    before, version = _writes(pg_url), PgStore.open(pg_url).version()
    again = index_corpus([seeds_copy], settings=s, embedder=real_embedder)
    assert (again.embedded_chunks, again.unchanged, again.chunks) == (0, 5, first.chunks)
    assert _writes(pg_url) == before and PgStore.open(pg_url).version() == version
    (seeds_copy / "005_new.txt").write_text(" date 2023-02-01 A new report\n\nThe armourer was charged too.")
    third = index_corpus(None, settings=s, embedder=real_embedder)  # no paths: the ones recorded
    assert (third.added, third.unchanged, third.embedded_chunks) == (1, 5, 1)
    assert retrieve("armourer charged", k=1, since="2023-02-01", index=pg_url)[0].source == "005_new.txt"


# -- incremental indexing, removal and the model guard, with the fast embedder -------------------------------

def _corpus(n: int, publisher: str | None = None) -> Corpus:
    return Corpus(tuple(
        Article(f"id{i}", f"{i:03}.txt", f"Story {i}", dt.date(2022, 1, 1) + dt.timedelta(days=i),
                f"Story {i}. " + " ".join(f"word{i}x{j}" for j in range(40)) + f". The end of story number {i}.",
                publisher=publisher)
        for i in range(n)))


def _terms(url: str) -> dict[str, int]:
    conn = connect(url)
    try:
        return dict(conn.execute("SELECT term, df FROM dateline_terms"))
    finally:
        conn.close()


def test_incremental_runs_report_what_the_faiss_store_reports(pg_url, pg_server, tmp_path):
    from tests.conftest import new_database

    emb, cfg = HashEmbedder(), ChunkingConfig(32, 8)
    changed = list(_corpus(7).articles)
    changed[2] = Article("changed", "002.txt", "Story 2", changed[2].date, "Story 2 was rewritten entirely.")
    del changed[4]
    steps = [dict(corpus=_corpus(6)), dict(corpus=_corpus(6)), dict(corpus=Corpus(tuple(changed))),
             dict(corpus=Corpus(tuple(changed)), prune=True), dict(corpus=Corpus(()), read=(), drop={"003.txt"})]
    fields = ("articles", "chunks", "embedded_chunks", "added", "updated", "removed", "unchanged", "kept", "reasons")
    for step in steps:
        a = build_index(step["corpus"], tmp_path, emb, cfg, **{k: v for k, v in step.items() if k != "corpus"})
        b = build_pg_index(step["corpus"], pg_url, emb, cfg, **{k: v for k, v in step.items() if k != "corpus"})
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields], step
    faiss, pg = Store.open(tmp_path), PgStore.open(pg_url)
    assert sorted(a.source for a in faiss.articles) == pg.sources() == ["000.txt", "001.txt", "002.txt", "005.txt", "006.txt"]
    q = emb.encode(["Story 5 word5x3 word5x7"])[0]
    assert pg.chunk(int(pg.search(q, 1)[1][0])).source == "005.txt"
    # the BM25 statistics kept by deltas equal those of an index written once from the final articles
    fresh = new_database(pg_server)
    build_pg_index(Corpus(tuple(a for a in faiss.articles)), fresh, emb, cfg)
    assert _terms(pg_url) == _terms(fresh)
    assert PgStore.open(pg_url).manifest["counts"] == PgStore.open(fresh).manifest["counts"]


def test_a_metadata_change_rewrites_rows_and_keeps_vectors(pg_url):
    emb, cfg = HashEmbedder(), ChunkingConfig(32, 8)
    build_pg_index(_corpus(3), pg_url, emb, cfg)
    report = build_pg_index(_corpus(3, publisher="Gotham Gazette"), pg_url, emb, cfg)
    assert (report.unchanged, report.embedded_chunks) == (3, 0)
    idx = Index.open(pg_url, settings=Settings(index=pg_url, model="hash-embedder"))
    hits = idx.search("word1x5 story", k=3, publishers=["gotham gazette"])
    assert hits and all(h.publisher == "Gotham Gazette" for h in hits)
    assert idx.publishers.find("What did the Gotham Gazette say?")[0].publishers == {"Gotham Gazette"}


def test_a_snapshot_of_a_postgresql_index_keeps_its_generation_while_the_live_one_moves_on(pg_url):
    """One answer reads one generation (Index.snapshot): counts, publishers and refresh stay those of when it began."""
    emb, cfg = HashEmbedder(), ChunkingConfig(32, 8)
    build_pg_index(_corpus(3, publisher="Gotham Gazette"), pg_url, emb, cfg)
    live = Index.open(pg_url, settings=Settings(index=pg_url, model="hash-embedder"))
    snap = live.snapshot()
    more = Corpus((*_corpus(3, publisher="Gotham Gazette").articles,
                   Article("id9", "009.txt", "Story 9", dt.date(2022, 2, 1), "Story 9. The Daily Planet reports.",
                           publisher="Daily Planet")))
    build_pg_index(more, pg_url, emb, cfg)
    assert snap.refresh() is False and live.refresh() is True
    assert (snap.stats()["articles"], live.stats()["articles"]) == (3, 4)
    assert snap.publishers.find("What did the Daily Planet say?") == []
    assert live.publishers.find("What did the Daily Planet say?")[0].publishers == {"Daily Planet"}
    assert [live.store.chunk(int(i)).position for i in live.store.chunk_ids("001.txt")] == \
        list(range(len(live.store.chunk_ids("001.txt")))) and len(live.store.chunk_ids("001.txt")) > 1


def test_the_model_guard_holds_for_postgresql(pg_url):
    build_pg_index(_corpus(2), pg_url, HashEmbedder(), ChunkingConfig(32, 8))
    with pytest.raises(ModelMismatch, match="'hash-embedder' but 'other-model'"):
        PgStore.open(pg_url, model="other-model")
    with pytest.raises(ModelMismatch, match="64-dimensional .* 384-dimensional"):
        PgStore.open(pg_url, model="hash-embedder", dimension=384)
    with pytest.raises(ModelMismatch):
        build_pg_index(_corpus(2), pg_url, HashEmbedder(name="other-model", dimension=32), ChunkingConfig(32, 8))
    build_pg_index(_corpus(2), pg_url, HashEmbedder(name="other-model", dimension=32), ChunkingConfig(32, 8), rebuild=True)
    store = PgStore.open(pg_url)
    assert (store.model, store.manifest["dimension"], len(store.sources())) == ("other-model", 32, 2)


def test_remove_and_errors_name_the_database_without_its_password(pg_url):
    s = Settings(index=pg_url, model="hash-embedder")
    index_corpus([SEEDS], settings=s)
    report = remove_articles([GUN], settings=s)
    assert report.removed == 1 and report.articles == 4
    assert retrieve(GUN_QUESTION, k=5, index=pg_url, settings=s)[0].source != GUN
    with pytest.raises(RagError, match="no article"):
        remove_articles(["nothing.txt"], settings=s)
    parts = urllib.parse.urlsplit(pg_url)
    secret = urllib.parse.urlunsplit(parts._replace(netloc="someone:hunter2@" + parts.netloc.split("@")[-1]))
    assert "hunter2" not in redact(secret) and "***" in redact(secret)
    with pytest.raises(RagError) as e:
        retrieve("gun", index=secret.replace("/dateline_", "/missing_"))
    assert "hunter2" not in str(e.value)
    with pytest.raises(IndexNotFound, match="no index at postgresql://"):
        Index.open(pg_url.replace(parts.path, "/postgres"))
    with pytest.raises(InvalidQuery, match="postgresql:// URL"):
        retrieve("gun", index=42)


# -- a narrow date window returns k rows ---------------------------------------------------------------------

def test_a_narrow_date_window_returns_k_rows_where_the_hnsw_walk_alone_does_not(pg_url):
    """3,000 one-chunk articles over 100 days, an HNSW index, and no other index the planner could use for the
    window (dropped here; the URL forbids sequential scans), so PostgreSQL walks the graph and filters after.
    pgvector 0.6 then returns fewer than k rows for a narrow window; the store never does."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    corpus = Corpus(tuple(
        Article(f"c{i}", f"{i:04}.txt", f"t{i}", dt.date(2022, 1, 1) + dt.timedelta(days=i % 100),
                " ".join(rng.choice(words, 12))) for i in range(3000)))
    emb = HashEmbedder()
    build_pg_index(corpus, pg_url, emb, ChunkingConfig(64, 0), kind="approximate")
    conn = connect(pg_url)
    conn.execute("DROP INDEX dateline_chunks_published, dateline_chunks_publisher")
    url = pg_url + "&options=" + urllib.parse.quote("-c enable_seqscan=off")
    store = PgStore.open(url)
    store.exact_rows = 0  # take the approximate route whenever the ef rule allows it
    day0 = dt.date(2022, 1, 1)
    queries = emb.encode([" ".join(rng.choice(words, 6)) for _ in range(20)])
    vecs = {(int(a), int(c)): as_array(v) for a, c, v in conn.execute("SELECT article_id, id, embedding FROM dateline_chunks")}
    days = {(int(a), int(c)): d for a, c, d in conn.execute("SELECT article_id, id, published FROM dateline_chunks")}
    conn.execute("SET hnsw.ef_search = 40; SET enable_seqscan = off")
    walked = [len(conn.execute("SELECT id FROM dateline_chunks WHERE published = %s ORDER BY embedding <#> %s "
                               "LIMIT 10", (day0, q)).fetchall()) for q in queries]
    assert np.mean(walked) < 5  # the engine alone: a 1% window starves the walk
    routes = set()
    for span in (1, 5, 10, 50, 100):
        until = day0 + dt.timedelta(days=span - 1)
        sel = store.facts().allowed(day0, until, set(), set())
        assert len(sel) == 30 * span
        recall = []
        for q in queries:
            scores, ids = store.search(q, 10, sel)
            routes.add(store.route)
            assert len(ids) == 10, (span, store.route)
            keys = [store._chunk_keys[int(i)] for i in ids]
            assert all(day0 <= days[k] <= until for k in keys)
            allowed = [k for k, d in days.items() if day0 <= d <= until]
            best = sorted(allowed, key=lambda k: -float(vecs[k] @ q))[:10]
            recall.append(len(set(best) & set(keys)) / 10)
            if store.route != "hnsw":  # scored exactly: the true top 10 (hash vectors tie a lot, so compare sets
                assert recall[-1] >= 0.9  # up to ties at the 10th place)
        assert np.mean(recall) >= 0.8, (span, np.mean(recall))  # a graph walk over hash vectors: approximate
    assert "exact" in routes and routes & {"hnsw", "hnsw+exact"}
    hits = Index(store, emb, Settings(index=url, model="hash-embedder")).search("w1 w2 w3", k=10, since=day0, until=day0)
    assert len(hits) == 10 and {h.date for h in hits} == {day0}
    conn.close()


# -- a kill during indexing leaves the old state answering ---------------------------------------------------

def test_sigkill_during_postgresql_indexing_leaves_the_old_state_answering(pg_url):
    env = {"DATELINE_MODEL": "hash-embedder", "DATELINE_INDEX": pg_url}
    r = _rag("index", str(SEEDS), env=env)
    assert r.returncode == 0, r.stderr
    emb = HashEmbedder()
    q = emb.encode(["Dave Halls handed him the prop weapon"])[0]
    old = PgStore.open(pg_url)
    expected = [old.chunk(int(i)).source for i in old.search(q, 5)[1]]
    state = _writes(pg_url)
    big = MULTIHOP / "corpus.json"
    if not big.exists():
        pytest.skip("needs ../shared/bench/multihop-rag/corpus.json for a run that takes a while to write")
    watcher = connect(pg_url)

    def writing() -> bool:
        return watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                               "'dateline index: writing'").fetchone()[0] > 0

    started = [0.0]
    for ready, what in ((lambda: time.monotonic() - started[0] > 1.0, "embedding"), (writing, "writing")):
        started[0] = time.monotonic()
        p = subprocess.Popen([sys.executable, "-m", "rag", "index", str(big)], cwd=ROOT, env=dict(os.environ, **env),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not ready() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        hit = p.poll() is None and (what != "writing" or writing())
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert hit, f"the kill did not land while {what}"
        for _ in range(200):  # the server notices the dead client and rolls its transaction back
            if not writing():
                break
            time.sleep(0.05)
        store = PgStore.open(pg_url)
        assert not store.stale() and store.version() == old.version()
        assert _writes(pg_url) == state, what
        assert [store.chunk(int(i)).source for i in store.search(q, 5)[1]] == expected
        assert retrieve(GUN_QUESTION, k=1, index=pg_url, settings=Settings(model="hash-embedder"))
    watcher.close()
    r = _rag("index", str(SEEDS), str(big), env=env, timeout=600)  # and the next run completes
    assert r.returncode == 0, r.stderr
    assert len(PgStore.open(pg_url).sources()) == 5 + 609


# -- every door takes a URL; the CLI with Ray ----------------------------------------------------------------

def test_cli_with_a_url_and_ray_writes_the_vectors_a_local_run_writes(pg_url, seed_index):
    """`rag index --ray` (a real local Ray, one ONNX encoder per actor) into PostgreSQL, then `rag search`."""
    r = _rag("index", str(SEEDS), "--index", pg_url, "--json", "--ray")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["embedded_chunks"] == report["chunks"] > 0 and "***" not in report["index"]
    faiss, pg = Store.open(seed_index), PgStore.open(pg_url)
    assert len(pg) == len(faiss)
    mine = {(c.source, c.start, c.end): v for c, v in zip(*[f(faiss) for f in (
        lambda s: [s.chunk(i) for i in range(len(s))], lambda s: s.vectors())])}
    pg.rows  # noqa: B018  (numbers every chunk)
    chunks, _, vecs = pg.passages(range(len(pg)))
    for c, v in zip(chunks, vecs):
        np.testing.assert_array_equal(v, mine[(c.source, c.start, c.end)])
    r = _rag("search", GUN_QUESTION, "-k", "1", "--index", pg_url)
    assert r.returncode == 0 and GUN in r.stdout and "2021-12-02" in r.stdout, r.stderr
    r = _rag("search", GUN_QUESTION, "-k", "1", "--json", env={"DATELINE_INDEX": pg_url})
    assert json.loads(r.stdout)[0]["source"] == GUN
    r = _rag("search", "gun", "--index", pg_url.replace("/dateline_", "/nothere_"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "cannot connect" in r.stderr


def test_the_web_app_serves_a_postgresql_index_and_takes_uploads(pg_seed_url, pg_server, real_embedder, tmp_path,
                                                                 monkeypatch):
    from gradio_client import Client

    from rag import add_uploads
    from tests.conftest import new_database
    from tests.test_ui import free_port
    from ui.app import serve

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    demo, url = serve(Settings(index=pg_seed_url, port=free_port()), block=False)
    try:
        hits = Client(url, verbose=False).predict(GUN_QUESTION, k=2, api_name="/search")
        assert hits[0]["source"] == GUN and hits[0]["date"] == "2021-12-02"
    finally:
        demo.close()
        os.environ.pop("GRADIO_TEMP_DIR", None)
    target = new_database(pg_server)
    index_corpus([SEEDS], settings=Settings(index=target), embedder=real_embedder)
    idx = Index.open(target, embedder=real_embedder)
    report = add_uploads([("verdict.txt", b" date 2023-03-01 Verdict\n\nThe jury found the armourer guilty of "
                                          b"involuntary manslaughter.")], index=idx)
    assert report.saved == ("verdict.txt",) and (tmp_path / "data").is_dir()
    assert idx.search("armourer guilty", k=1)[0].source == "verdict.txt"
    again = index_corpus([SEEDS], settings=Settings(index=target), embedder=real_embedder)
    assert again.kept == 1 and "verdict.txt" in PgStore.open(target).sources()
    assert article_key("verdict.txt") != article_key("verdict.txt ")


def test_an_old_pgvector_degrades_to_exact_search(pg_url, monkeypatch):
    """pgvector before 0.5 has no HNSW: the index is written for exact scans, with a warning saying why."""
    import rag.pgwrite
    from rag.pgconnect import Features, features

    real = features
    monkeypatch.setattr(rag.pgwrite, "features", lambda conn: real(conn) and Features((0, 4, 4)))
    report = build_pg_index(_corpus(5), pg_url, HashEmbedder(), ChunkingConfig(32, 8), kind="approximate")
    assert report.kind == "flat" and any("no HNSW index" in w for w in report.warnings)
    monkeypatch.setattr(rag.pgwrite, "features", lambda conn: real(conn) and Features((0, 3, 2)))
    with pytest.raises(RagError, match="too old"):
        build_pg_index(_corpus(6), pg_url, HashEmbedder(), ChunkingConfig(32, 8))
    assert len(PgStore.open(pg_url).sources()) == 5


def test_without_the_scale_extra_the_default_store_works_and_a_url_says_what_to_install(seed_index):
    """psycopg, pgvector and ray made unimportable: FAISS answers as before; a URL or --ray names the extra."""
    code = f"""
import sys
for name in ("psycopg", "pgvector", "ray"):
    sys.modules[name] = None
from rag import RagError, retrieve
print(retrieve("Who handed Alec Baldwin the gun?", k=1, index={str(seed_index)!r})[0].source)
for call in (lambda: retrieve("gun", index="postgresql://someone@localhost/news"),):
    try:
        call()
    except RagError as e:
        print(e)
from rag.embed_jobs import encode_texts
from rag import HashEmbedder
try:
    encode_texts(HashEmbedder(), ["a text"], ray="local")
except RagError as e:
    print(e)
print(sorted(m for m in ("psycopg", "pgvector", "ray") if sys.modules.get(m) is not None))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == GUN
    assert "pip install 'dateline[scale]'" in lines[1] and "PostgreSQL" in lines[1]
    assert "--ray needs Ray: pip install 'dateline[scale]'" in lines[2]
    assert lines[3] == "[]"


# The chunk table of docs/scaling.md, partitioned by month of publication (without Citus's calls): made before
# the first `rag index`, which then uses the tables it finds.
PARTITIONED = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE dateline_meta (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE dateline_publishers (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE dateline_articles (
    id bigint PRIMARY KEY, source text NOT NULL, content_id text NOT NULL, meta_hash text NOT NULL,
    title text NOT NULL, published date, publisher_id integer REFERENCES dateline_publishers (id),
    url text, author text, date_source text NOT NULL DEFAULT '', date_confidence text NOT NULL DEFAULT '',
    updated date, excerpt boolean NOT NULL DEFAULT false, body text NOT NULL,
    origin text NOT NULL DEFAULT '', n_chunks integer NOT NULL);
CREATE TABLE dateline_chunks (
    article_id bigint NOT NULL REFERENCES dateline_articles (id) ON DELETE CASCADE,
    id bigint NOT NULL, position integer NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL,
    published date, publisher_id integer, embedding vector(384) NOT NULL,
    terms tsvector NOT NULL, n_terms integer NOT NULL, seq bigint NOT NULL,
    UNIQUE (article_id, id, published)
) PARTITION BY RANGE (published);
CREATE TABLE dateline_chunks_undated PARTITION OF dateline_chunks DEFAULT;
CREATE TABLE dateline_terms (term text PRIMARY KEY, df integer NOT NULL);
CREATE TABLE dateline_days (published date, publisher_id integer, chunks bigint NOT NULL);
"""


def test_a_chunk_table_partitioned_by_month_made_beforehand_is_used_as_it_is(pg_url, pg_seed_url, real_embedder):
    conn = connect(pg_url)
    conn.execute(PARTITIONED)
    for m in range(24):  # 2021-12 .. 2023-11
        lo = dt.date(2021 + (11 + m) // 12, (11 + m) % 12 + 1, 1)
        hi = dt.date(lo.year + lo.month // 12, lo.month % 12 + 1, 1)
        conn.execute(f"CREATE TABLE dateline_chunks_{lo:%Y_%m} PARTITION OF dateline_chunks "
                     f"FOR VALUES FROM ('{lo}') TO ('{hi}')")
    report = index_corpus([SEEDS], settings=Settings(index=pg_url, index_kind="approximate"), embedder=real_embedder)
    assert (report.articles, report.kind) == (5, "hnsw")
    assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'dateline_chunks'").fetchone()[0] == "p"
    a, b = Index.open(pg_url, embedder=real_embedder), Index.open(pg_seed_url, embedder=real_embedder)
    for q in _questions()[:12]:
        for window in ({}, {"since": "2021-12-20", "until": "2022-01-31"}):
            assert [(h.source, h.start) for h in a.search(q, k=5, **window)] == \
                [(h.source, h.start) for h in b.search(q, k=5, **window)]
    conn.close()
    conn = connect(pg_url)  # the vector type exists now: this connection knows it
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN SELECT id FROM dateline_chunks WHERE published BETWEEN '2022-01-01' AND '2022-01-31' "
        "ORDER BY embedding <#> %s LIMIT 5", (real_embedder.encode(["the gun"])[0],)))
    assert "dateline_chunks_2022_01" in plan and "dateline_chunks_2021_12" not in plan  # one month read
    assert index_corpus([SEEDS], settings=Settings(index=pg_url), embedder=real_embedder).embedded_chunks == 0
    conn.close()
