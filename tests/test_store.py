"""The persisted index: FAISS against brute force, round trips, recall, crash safety, refusals."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import (
    Article, ChunkingConfig, Corpus, HashEmbedder, Index, IndexCorrupt, IndexNotFound, ModelMismatch, Settings, Store,
)
from rag.faisswrite import build_index, make_faiss_index
from tests.conftest import MULTIHOP, ROOT, SEEDS


def _store(vectors: np.ndarray, kind: str) -> Store:
    n = len(vectors)
    rows = np.stack([np.zeros(n), np.zeros(n), np.zeros(n), np.arange(n)], axis=1).astype(np.int64)
    a = Article("a", "a.txt", "t", None, "")
    return Store(Path("."), Path("."), {"index_kind": kind}, [a], rows, make_faiss_index(vectors, kind))


def _clustered(n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors in topical clusters, shaped more like sentence embeddings than uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(8, n // 200), d))
    v = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.normal(size=(n, d))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _brute(vectors, q, k, allowed=None):
    ids = np.arange(len(vectors)) if allowed is None else np.asarray(allowed)
    s = vectors[ids] @ q
    order = np.argsort(-s, kind="stable")[:k]
    return s[order], ids[order]


def test_exact_search_equals_numpy_brute_force():
    v = _clustered(3000)
    store = _store(v, "flat")
    rng = np.random.default_rng(1)
    allowed = np.sort(rng.choice(len(v), 400, replace=False))
    for q in v[rng.choice(len(v), 20)] + 0.1:
        q = q / np.linalg.norm(q)
        for allow in (None, allowed):
            s, ids = store.search(q, 10, allow)
            bs, bids = _brute(v, q, 10, allow)
            np.testing.assert_allclose(s, bs, rtol=1e-5, atol=1e-6)
            assert list(ids) == list(bids)


def test_filter_applies_before_top_k():
    v = _clustered(1000)
    store = _store(v, "flat")
    allowed = np.array([3, 500, 999])
    s, ids = store.search(v[0], 10, allowed)
    assert sorted(ids) == [3, 500, 999]  # every allowed chunk comes back, not top-10 then filtered


def test_approximate_index_recall_against_exact():
    """HNSW recall@10 measured against exact search on 20k clustered vectors, unfiltered and filtered."""
    v = _clustered(20_000, seed=2)
    exact, approx = _store(v, "flat"), _store(v, "hnsw")
    rng = np.random.default_rng(3)
    queries = v[rng.choice(len(v), 200, replace=False)] + 0.05 * rng.normal(size=(200, v.shape[1])).astype(np.float32)
    wide = np.flatnonzero(rng.random(len(v)) < 0.5)
    narrow = np.flatnonzero(rng.random(len(v)) < 0.01)
    for allow in (None, wide, narrow):
        recall = np.mean([
            len(set(exact.search(q, 10, allow)[1]) & set(approx.search(q, 10, allow)[1])) / 10 for q in queries
        ])
        assert recall >= 0.95, (None if allow is None else len(allow), recall)


def _corpus(n: int) -> Corpus:
    return Corpus(tuple(
        Article(f"id{i}", f"{i:03}.txt", f"Story {i}", dt.date(2022, 1, 1) + dt.timedelta(days=i),
                f"Story {i}. " + " ".join(f"word{i}x{j}" for j in range(40)) + ". The end of story number " + str(i) + ".")
        for i in range(n)
    ))


def test_save_load_round_trip_and_incremental(tmp_path):
    emb, cfg = HashEmbedder(), ChunkingConfig(32, 8)
    r1 = build_index(_corpus(6), tmp_path, emb, cfg)
    s1 = Store.open(tmp_path, model=emb.name, dimension=emb.dimension)
    target = next(i for i in range(len(s1)) if s1.chunk(i).source == "003.txt")
    q = emb.encode([s1.chunk(target).text])[0]
    before = s1.search(q, 5)
    assert s1.chunk(int(before[1][0])).source == "003.txt"
    assert r1.embedded_chunks == r1.chunks == len(s1)

    # unchanged corpus: nothing embedded, same results
    r2 = build_index(_corpus(6), tmp_path, emb, cfg)
    assert (r2.embedded_chunks, r2.unchanged, r2.added) == (0, 6, 0)
    s2 = Store.open(tmp_path)
    np.testing.assert_array_equal(s2.search(q, 5)[1], before[1])
    np.testing.assert_allclose(s2.vectors(), s1.vectors())

    # one changed, one gone, one added: only those embedded; the gone one stays until pruning is asked for
    c = list(_corpus(7).articles)
    c[2] = Article("changed", "002.txt", "Story 2", c[2].date, "Story 2 was rewritten entirely. New words here.")
    del c[4]
    r3 = build_index(Corpus(tuple(c)), tmp_path, emb, cfg)
    per_article = {a.source: sum(1 for r in Store.open(tmp_path).rows if Store.open(tmp_path).articles[r[0]].source == a.source) for a in c}
    assert (r3.added, r3.updated, r3.removed, r3.unchanged, r3.kept) == (1, 1, 0, 4, 1)
    assert r3.reasons == ("kept 1 article no longer found in the corpus given ('--prune' removes them)",)
    assert r3.embedded_chunks == per_article["002.txt"] + per_article["006.txt"]
    assert "004.txt" in {a.source for a in Store.open(tmp_path).articles}
    r4 = build_index(Corpus(tuple(c)), tmp_path, emb, cfg, prune=True)
    assert (r4.added, r4.updated, r4.removed, r4.unchanged, r4.kept, r4.embedded_chunks) == (0, 0, 1, 6, 0, 0)
    assert r4.reasons == ("removed 1 article no longer found in the corpus given (--prune)",)
    s3 = Store.open(tmp_path)
    assert "004.txt" not in {a.source for a in s3.articles}
    for i in range(len(s3)):
        ch = s3.chunk(i)
        assert s3.article_by_source(ch.source).text[ch.start : ch.end] == ch.text
    # the kept vectors are the old ones, and searching still finds story 3
    assert s3.chunk(int(s3.search(q, 1)[1][0])).source == "003.txt"


def test_model_mismatch_names_both(tmp_path):
    build_index(_corpus(2), tmp_path, HashEmbedder(), ChunkingConfig(32, 8))
    with pytest.raises(ModelMismatch, match="'hash-embedder' but 'other-model'"):
        Store.open(tmp_path, model="other-model")
    with pytest.raises(ModelMismatch, match="64-dimensional .* 384-dimensional"):
        Store.open(tmp_path, model="hash-embedder", dimension=384)
    with pytest.raises(ModelMismatch, match="hash-embedder.*other-model|other-model.*hash-embedder"):
        build_index(_corpus(2), tmp_path, HashEmbedder(name="other-model"), ChunkingConfig(32, 8))
    # --rebuild replaces it
    build_index(_corpus(2), tmp_path, HashEmbedder(name="other-model"), ChunkingConfig(32, 8), rebuild=True)
    assert Store.open(tmp_path).model == "other-model"


@pytest.mark.parametrize("name", ["index.faiss", "manifest.json", "chunks.npy", "articles.jsonl"])
def test_truncated_file_is_refused_naming_it(tmp_path, name):
    build_index(_corpus(3), tmp_path, HashEmbedder(), ChunkingConfig(32, 8))
    gen = Store.open(tmp_path).generation
    p = gen / name
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(IndexCorrupt) as e:
        Store.open(tmp_path)
    assert str(p) in str(e.value) and "rag index --rebuild" in str(e.value)


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexNotFound, match="rag index"):
        Store.open(tmp_path / "nothing")


def test_sigkill_during_indexing_leaves_the_old_index_working(tmp_path):
    """A real `rag index` subprocess killed with SIGKILL at many moments, some of them mid-write."""
    root = tmp_path / "store"
    env = dict(os.environ, DATELINE_MODEL="hash-embedder", DATELINE_INDEX=str(root))
    rag = [sys.executable, "-m", "rag", "index"]
    subprocess.run(rag + [str(SEEDS)], env=env, check=True, capture_output=True)
    emb = HashEmbedder()
    q = emb.encode(["Dave Halls handed him the prop weapon"])[0]
    expected = Store.open(root).search(q, 5)
    big = MULTIHOP / "corpus.json" if (MULTIHOP / "corpus.json").exists() else None
    if big is None:  # a corpus large enough that writing takes a while
        big = tmp_path / "big.jsonl"
        big.write_text("\n".join(f'{{"title": "t{i}", "body": "{" ".join(["word"] * 3000)} {i}.", "date": "2022-01-01"}}' for i in range(600)))
    def kill_when(ready) -> bool:
        """Start `rag index` on the big corpus, SIGKILL it once ``ready()`` holds; True if it was still writing."""
        p = subprocess.Popen(rag + [str(big)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not ready() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        p.send_signal(signal.SIGKILL)
        p.wait()
        return any(x.name.startswith(".tmp-gen-") for x in root.iterdir())

    def tmp_gen(name=None):
        gens = [x for x in root.iterdir() if x.name.startswith(".tmp-gen-")]
        return bool(gens) and (name is None or any((g / name).exists() for g in gens))

    started = time.monotonic()
    moments = [lambda: time.monotonic() - started > 1.0,  # while loading and embedding
               lambda: tmp_gen(),  # the new generation has just been created
               lambda: tmp_gen("index.faiss")]  # vectors written, BM25 and manifest not yet
    mid_write = 0
    for ready in moments:
        started = time.monotonic()
        mid_write += kill_when(ready)
        s = Store.open(root)  # loads, checksums pass
        np.testing.assert_array_equal(s.search(q, 5)[1], expected[1])
        assert {a.source for a in s.articles} == {p.name for p in SEEDS.iterdir()}
    assert mid_write >= 2, "the kills did not land while a new generation was being written"
    # and the next run completes and cleans up the leftovers
    subprocess.run(rag + [str(SEEDS)], env=env, check=True, capture_output=True)
    assert not [x for x in root.iterdir() if x.name.startswith(".tmp-gen-")]
    assert len([x for x in root.iterdir() if x.name.startswith("gen-")]) == 1


# -- damaged manifests and CURRENT: always IndexCorrupt naming the file, never another exception --------------

@pytest.fixture(scope="module")
def small_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("small") / "store"
    build_index(_corpus(4), root, HashEmbedder(), ChunkingConfig(32, 8))
    return root


def _damaged_copy(src: Path, dest: Path, edit) -> Path:
    import shutil

    shutil.copytree(src, dest)
    mpath = Store.open(dest).generation / "manifest.json"
    manifest = json.loads(mpath.read_text())
    edit(manifest)
    mpath.write_text(json.dumps(manifest))
    return mpath


@pytest.mark.parametrize("edit", [
    lambda m: m.pop("model"), lambda m: m.pop("files"), lambda m: m.pop("dimension"), lambda m: m.pop("index_kind"),
    lambda m: m.update(files=[]), lambda m: m.update(model=None), lambda m: m.update(dimension="64"),
    lambda m: m["files"].pop("index.faiss"), lambda m: m["files"]["chunks.npy"].pop("sha256"),
    lambda m: m["files"]["chunks.npy"].update(size="12"), lambda m: m.update(chunking=7),
    lambda m: m.update(corpus_paths="seeds"), lambda m: m.update(origins=[1]), lambda m: m.update(format_version=True),
    lambda m: m["files"].update({"../../etc/passwd": {"size": 1, "sha256": "x"}}), lambda m: m.clear(),
    lambda m: m.update(encoder=["onnx-int8"]),
], ids=lambda f: "")
def test_a_manifest_with_fields_missing_or_mistyped_is_named_as_corrupt(small_index, tmp_path, edit):
    mpath = _damaged_copy(small_index, tmp_path / "copy", edit)
    with pytest.raises(IndexCorrupt) as e:
        Store.open(tmp_path / "copy")
    assert "rag index --rebuild" in str(e.value)
    assert str(mpath) in str(e.value) or "has format" in str(e.value)


def test_a_damaged_encoder_field_is_named_as_corrupt_when_the_index_is_opened(small_index, tmp_path):
    """Index.open reads the manifest's encoder before loading a model (encoder "auto"): a mistyped one is
    IndexCorrupt naming the manifest, not a TypeError from the model cache."""
    mpath = _damaged_copy(small_index, tmp_path / "copy", lambda m: m.update(encoder=["onnx-int8"]))
    with pytest.raises(IndexCorrupt) as e:
        Index.open(tmp_path / "copy", settings=Settings(model="hash-embedder"))
    assert str(mpath) in str(e.value) and "rag index --rebuild" in str(e.value)


@pytest.mark.parametrize("content", [b"gen-\xff\xfe\n", b"", b"../../etc\n", b"gen-x\x00y", b"\xef\xbb\xbf" * 3])
def test_a_damaged_current_is_named_as_corrupt(small_index, tmp_path, content):
    import shutil

    shutil.copytree(small_index, tmp_path / "copy")
    (tmp_path / "copy" / "CURRENT").write_bytes(content)
    with pytest.raises(IndexCorrupt, match="CURRENT.*rag index --rebuild"):
        Store.open(tmp_path / "copy")


def _paths(value, prefix=()):
    """Every key path into a JSON object (the places a damaged manifest can differ)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=6)


def test_a_recorded_origin_naming_no_article_is_no_origin(small_index, tmp_path):
    # found by the property below: a manifest whose origins name no article of the index (here the source "")
    def edit(m):
        m["origins"] = {"": ""}

    _damaged_copy(small_index, tmp_path / "copy", edit)
    s = Store.open(tmp_path / "copy")
    assert set(s.origins()) <= {a.source for a in s.articles}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_the_manifest_opens_cleanly_or_is_named_as_corrupt(small_index, data):
    """Property: drop or mistype any field of the manifest → IndexCorrupt (naming the file), or an index that
    opens and searches as before; never a KeyError, TypeError or AttributeError."""
    import tempfile

    manifest = json.loads((Store.open(small_index).generation / "manifest.json").read_text())
    places = [p for p in _paths(manifest) if p]
    edits = data.draw(st.lists(st.tuples(st.sampled_from(places), st.booleans(), _JSON), min_size=1, max_size=3))

    def edit(m):
        for path, delete, value in edits:  # an earlier edit may have removed or replaced the place: then skip it
            parent = m
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) and isinstance(key, str) else None
            last = path[-1]
            if isinstance(parent, dict) and isinstance(last, str) and last in parent:
                if delete:
                    del parent[last]
                else:
                    parent[last] = value

    with tempfile.TemporaryDirectory() as tmp:
        mpath = _damaged_copy(small_index, Path(tmp) / "copy", edit)
        emb = HashEmbedder()
        q = emb.encode(["Story 2 word2x3"])[0]
        try:
            s = Store.open(Path(tmp) / "copy", model=emb.name, dimension=emb.dimension)  # as Index.open does
        except (IndexCorrupt, ModelMismatch) as e:
            assert "rag index --rebuild" in str(e)
            if isinstance(e, IndexCorrupt):
                # it names the damaged generation (the manifest, or the file whose recorded size the edit changed)
                assert str(mpath.parent) in str(e) or "has format" in str(e) or "out of step" in str(e) or "damaged" in str(e)
            return
        # what opened is whole: everything a search, an upload or a re-index reads of it works
        expected = Store.open(small_index).search(q, 3)[1]
        np.testing.assert_array_equal(s.search(q, 3)[1], expected)
        assert (s.model, s.kind, len(s)) == ("hash-embedder", "flat", len(Store.open(small_index)))
        assert s.chunk(0).text and len(s.chunk_dates()) == len(s) and set(s.origins()) <= {a.source for a in s.articles}
        build_index(_corpus(5), Path(tmp) / "copy", emb, ChunkingConfig(32, 8))
        assert len(Store.open(Path(tmp) / "copy").articles) == 5
