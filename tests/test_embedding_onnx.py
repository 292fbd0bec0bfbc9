"""The ONNX encoder: same vectors and word pieces as sentence-transformers, safe export, no torch on the way to an answer."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rag import ModelMismatch, Settings, SentenceTransformerEmbedder, Store, load_embedder
from rag.embedding import bundled_model_path, interchangeable
from rag.settings import DEFAULT_ENCODER
from rag.onnx_encoder import ONNX_ENCODERS, OnnxEmbedder, export_dir
from rag.indexing import index_corpus
from rag.retrieval import Index
from tests.conftest import GUN, ROOT, SEEDS

pytestmark = pytest.mark.model

LONG = " ".join(f"Paragraph {i}: the armourer loaded the revolver on the Rust set near Santa Fe." for i in range(40))
TEXTS = [
    "Who handed Alec Baldwin the gun?",
    "",
    "   ",
    "?",
    "Café naïve façade — Zürich, São Paulo, Łódź, İstanbul",
    "東京で記者会見が開かれた。北京、서울",
    "الصحفيون في القاهرة 🙂 émojis 👩🏽‍💻 and symbols ©®™ ½",
    "COVID-19 vaccines: 95% effective (Pfizer/BioNTech), $19.50 per dose, 2020-11-18.",
    LONG,  # about 800 word pieces: cut at 256, as sentence-transformers cuts it
    "word " * 254,  # 254 pieces + [CLS] + [SEP]: exactly the limit
    "word " * 255,  # one over
]


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def onnx_fp32() -> OnnxEmbedder:
    return load_embedder(encoder="onnx-fp32")


@pytest.fixture(scope="module")
def onnx_int8() -> OnnxEmbedder:
    return load_embedder(encoder="onnx-int8")


def test_fp32_vectors_match_sentence_transformers(torch_embedder, onnx_fp32):
    assert len(onnx_fp32.count_tokens([LONG])) == 1 and onnx_fp32.count_tokens([LONG])[0] > 600
    ref = torch_embedder.encode(TEXTS)
    for batch_size in (1, 4, 32):  # alone, and padded next to longer and shorter texts
        got = onnx_fp32.encode(TEXTS, batch_size=batch_size)
        assert got.shape == ref.shape == (len(TEXTS), 384) and got.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cos = (got * ref).sum(axis=1)
        assert cos.min() >= 0.999, dict(zip(TEXTS, cos.round(5)))
    # truncation at the model's limit: text past the 256th piece changes nothing, in either encoder
    longer = LONG + " The prosecutors dropped the charges against Alec Baldwin in 2023."
    both = onnx_fp32.encode([LONG, longer])
    assert float(both[0] @ both[1]) > 0.99999
    assert float(torch_embedder.encode([longer])[0] @ both[1]) >= 0.999


def test_word_pieces_and_offsets_match_sentence_transformers(torch_embedder, onnx_fp32):
    assert onnx_fp32.max_tokens == torch_embedder.max_tokens == 256
    assert onnx_fp32.name == torch_embedder.name and onnx_fp32.dimension == torch_embedder.dimension
    assert onnx_fp32.count_tokens(TEXTS) == torch_embedder.count_tokens(TEXTS)
    for t in TEXTS:
        assert onnx_fp32.token_ends(t) == torch_embedder.token_ends(t), t


def test_int8_stays_close_to_fp32_and_finds_the_same_answer(tmp_path, onnx_fp32, onnx_int8):
    cos = (onnx_fp32.encode(TEXTS) * onnx_int8.encode(TEXTS)).sum(axis=1)
    worded = np.array([len(t.strip()) > 1 for t in TEXTS])
    assert cos[worded].min() > 0.985 and cos.min() > 0.96, cos.round(4)  # "", " " and "?" move the most
    assert not interchangeable("onnx-int8", "onnx-fp32") and interchangeable("torch", "onnx-fp32")
    index_corpus([SEEDS], settings=Settings(index=tmp_path, encoder="onnx-int8"), embedder=onnx_int8)
    hits = Index.open(tmp_path, settings=Settings(index=tmp_path, encoder="onnx-int8")).search(
        "Who handed Alec Baldwin the gun?", k=3)
    assert hits[0].source == GUN


def test_encode_is_thread_safe(onnx_fp32):
    """The web app answers two questions at once with one embedder."""
    texts = TEXTS * 3
    expected = onnx_fp32.encode(texts, batch_size=8)
    results, errors = {}, []

    def work(n: int) -> None:
        try:
            for _ in range(3):
                results[n] = onnx_fp32.encode(texts[n:] + texts[:n], batch_size=5 + n)
                onnx_fp32.count_tokens(texts)
        except Exception as e:  # pragma: no cover - the failure being tested for
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for n, got in results.items():
        np.testing.assert_allclose(got, np.roll(expected, -n, axis=0), atol=1e-5)


def test_settings_choose_the_encoder(monkeypatch):
    assert Settings().encoder == "auto" and DEFAULT_ENCODER == "onnx-int8"
    monkeypatch.setenv("DATELINE_ENCODER", "torch")
    assert Settings().encoder == "torch"
    assert Settings(encoder="onnx-int8").encoder == "onnx-int8"  # an argument beats the environment
    monkeypatch.setenv("DATELINE_ENCODER", "tensorflow")
    with pytest.raises(ValueError, match="onnx-fp32"):
        Settings()


def test_manifest_records_the_encoder_and_mismatches_are_refused(tmp_path, torch_embedder, onnx_fp32, onnx_int8):
    fp32_root, int8_root = tmp_path / "fp32", tmp_path / "int8"
    index_corpus([SEEDS], settings=Settings(index=fp32_root), embedder=onnx_fp32)
    index_corpus([SEEDS], settings=Settings(index=int8_root), embedder=onnx_int8)
    assert Store.open(fp32_root).manifest["encoder"] == "onnx-fp32"
    assert Store.open(int8_root).manifest["encoder"] == "onnx-int8"
    # fp32 and torch make the same vectors: each searches the other's index
    assert Index.open(fp32_root, embedder=torch_embedder).search("Who handed Alec Baldwin the gun?")[0].source == GUN
    for root, wrong in ((fp32_root, onnx_int8), (int8_root, onnx_fp32), (int8_root, torch_embedder)):
        with pytest.raises(ModelMismatch, match=r"built with the onnx-\w+ encoder but \S+ is configured.*"
                                                r"rag index --rebuild"):
            Index.open(root, embedder=wrong)
        with pytest.raises(ModelMismatch, match="rag index --rebuild"):  # adding articles too
            index_corpus([SEEDS], settings=Settings(index=root), embedder=wrong)
    index_corpus([SEEDS], settings=Settings(index=int8_root), embedder=onnx_fp32, rebuild=True)
    assert Store.open(int8_root).manifest["encoder"] == "onnx-fp32"


def _forget_encoder(root: Path) -> None:
    """Make the index at ``root`` look like one from before the encoder was recorded (torch built those)."""
    gen = root / (root / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    del manifest["encoder"]
    (gen / "manifest.json").write_text(json.dumps(manifest))


def test_auto_reads_each_index_with_its_own_encoder(tmp_path, torch_embedder, onnx_int8):
    old, new, int8, more = tmp_path / "old", tmp_path / "new", tmp_path / "int8", tmp_path / "more"
    index_corpus([SEEDS], settings=Settings(index=old), embedder=torch_embedder)
    _forget_encoder(old)
    auto = Settings(index=old)
    assert auto.encoder == "auto"
    # an index from before the encoder was recorded opens, read by ONNX fp32 (torch's vectors, without torch)
    idx = Index.open(old, settings=auto)
    assert idx.embedder.encoder == "onnx-fp32"
    assert idx.search("Who handed Alec Baldwin the gun?")[0].source == GUN
    # adding to it keeps vectors it can compare
    more.mkdir()
    (more / "extra.txt").write_text(" date 2022-01-05 Rust set inquiry\n\nInvestigators met again about the Rust film.")
    assert index_corpus([SEEDS, more], settings=auto).embedded_chunks == 1
    assert Store.open(old).manifest["encoder"] == "onnx-fp32"
    # an index built with int8 is read, and added to, with int8; a rebuild moves it to the default
    index_corpus([SEEDS], settings=Settings(index=int8), embedder=onnx_int8)
    assert Index.open(int8, settings=Settings(index=int8)).embedder.encoder == "onnx-int8"
    assert index_corpus([SEEDS, more], settings=Settings(index=int8)).embedded_chunks == 1
    assert Store.open(int8).manifest["encoder"] == "onnx-int8"
    index_corpus([SEEDS], settings=Settings(index=int8), rebuild=True)
    assert Store.open(int8).manifest["encoder"] == DEFAULT_ENCODER
    # a new index gets the default
    index_corpus([SEEDS], settings=Settings(index=new))
    assert Store.open(new).manifest["encoder"] == DEFAULT_ENCODER


def test_index_from_before_the_encoder_was_recorded_is_refused_by_int8(tmp_path, onnx_fp32):
    index_corpus([SEEDS], settings=Settings(index=tmp_path), embedder=onnx_fp32)
    _forget_encoder(tmp_path)
    with pytest.raises(ModelMismatch, match="built with the torch encoder but onnx-int8 is configured.*"
                                            "DATELINE_ENCODER=torch"):
        Index.open(tmp_path, settings=Settings(index=tmp_path, encoder="onnx-int8"))


# -- export: lazily, once, atomically ------------------------------------------------------------
def _python(code: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_export_killed_midway_leaves_no_model_and_two_processes_then_export_once(tmp_path, onnx_fp32):
    cache = tmp_path / "cache"
    out = export_dir(bundled_model_path(), cache)
    env = dict(os.environ, PYTHONPATH=str(ROOT), DATELINE_CACHE_DIR=str(cache))
    # 1. an export killed while it writes: the kernel kills it (SIGXFSZ, which Python ignores unless told
    #    otherwise) when its file passes 8 MB, so the kill lands mid-write every time; only a temporary file
    #    is left, never a model under its real name
    limit = 8 << 20
    argv = ["rag.onnx_encoder", "--model-dir", str(bundled_model_path()), "--out", str(out)]
    killed = ("import runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_DFL); "
              f"sys.argv = {argv!r}; runpy.run_module('rag.onnx_encoder', run_name='__main__')")
    child = subprocess.run([sys.executable, "-c", killed], cwd=ROOT, env=env, capture_output=True, timeout=300,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert child.returncode == -signal.SIGXFSZ, child.stderr
    assert [p.stat().st_size for p in out.glob(".tmp-*/*")] == [limit]
    assert not any((out / f).exists() for f in ONNX_ENCODERS.values())
    # 2. two processes asking at once: one exports, the other waits for it; both get the same vectors
    code = ("import json; from rag import Settings, embedder_for; e = embedder_for(Settings(encoder='onnx-fp32')); "
            "print(json.dumps(e.encode(['Who handed Alec Baldwin the gun?'])[0].tolist()))")
    procs = [_python(code, env) for _ in range(2)]
    vectors = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        vectors.append(np.array(json.loads(stdout)))
    expected = onnx_fp32.encode(["Who handed Alec Baldwin the gun?"])[0]
    for v in vectors:
        np.testing.assert_allclose(v, expected, atol=1e-5)
    assert sorted(p.name for p in out.iterdir()) == [".lock", "model-fp32.onnx", "model-fp32.onnx.data",
                                                      "model-int8.onnx"]


def test_a_damaged_export_is_reported_with_what_to_do(tmp_path):
    from rag import RagError

    bad = tmp_path / "model-fp32.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(RagError, match=f"cannot load the ONNX model {bad}.*Delete {tmp_path}/ to export it again"):
        OnnxEmbedder(bundled_model_path(), bad, name="m", encoder="onnx-fp32")


def test_an_unwritable_cache_is_reported_with_what_to_do(tmp_path):
    from rag import RagError

    (tmp_path / "a-file").write_text("")
    with pytest.raises(RagError, match="cannot write the ONNX export into .*DATELINE_CACHE_DIR"):
        load_embedder(encoder="onnx-fp32", cache_dir=tmp_path / "a-file" / "cache")


# -- the way to an answer never imports torch ------------------------------------------------------
HEAVY = ("torch", "transformers", "sentence_transformers")


def _heavy_modules_after(code: str, env: dict | None = None) -> tuple[list[str], str]:
    """Run ``code`` in a fresh Python, then list which of HEAVY it left imported; also its stdout."""
    guard = (f"{code}\nimport sys\nprint('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", guard], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})))
    assert proc.returncode == 0, proc.stderr
    marker = proc.stdout.rindex("HEAVY=")
    heavy = proc.stdout[marker + len("HEAVY="):].strip()
    return heavy.split(",") if heavy else [], proc.stdout[:marker]


@pytest.mark.parametrize("command", [
    ["search", "Who handed Alec Baldwin the gun?"],
    ["ask", "Who handed Alec Baldwin the gun?"],
])
def test_cli_question_path_never_imports_torch(seed_index, command):
    argv = ["rag", *command, "--index", str(seed_index)]
    heavy, printed = _heavy_modules_after(f"import sys\nsys.argv = {argv!r}\nfrom rag.cli import main\nmain()")
    assert GUN in printed  # the question was really answered
    assert heavy == []


def test_library_question_path_never_imports_torch(seed_index):
    code = ("from rag import retrieve, answer\n"
            f"print(retrieve('Who handed Alec Baldwin the gun?', index={str(seed_index)!r})[0].source)\n"
            f"print(answer('Who handed Alec Baldwin the gun?', index={str(seed_index)!r}).citations[0].source)")
    heavy, printed = _heavy_modules_after(code)
    assert printed.split() == [GUN, GUN]
    assert heavy == []


def test_importing_rag_loads_no_model_runtime():
    heavy, _ = _heavy_modules_after("import rag, sys; print(sorted({'onnxruntime', 'faiss'} & set(sys.modules)))")
    assert heavy == [] and _ == "[]\n"


def test_torch_encoder_is_still_there_when_asked_for():
    heavy, printed = _heavy_modules_after(
        "from rag import Settings, embedder_for\ne = embedder_for(Settings())\nprint(e.encoder)",
        env={"DATELINE_ENCODER": "torch"})
    assert printed.strip() == "torch" and "sentence_transformers" in heavy



def test_the_same_sentence_gets_the_same_vector_whatever_was_asked_before(onnx_int8):
    """int8 quantises a batch's activations together: the reader encodes sentences alone, so answers repeat."""
    import numpy as np

    from rag.sentences import encode, vector_cache

    class Idx:  # what encode() reads of an index
        embedder = onnx_int8

    s = "Alec Baldwin has been charged with involuntary manslaughter."
    batched = [onnx_int8.encode([s, "A much longer sentence about something else entirely " * 6])[0],
               onnx_int8.encode([s, "Short one."])[0]]
    assert not np.array_equal(*batched)  # why: in a batch, the vector depends on its neighbours
    vector_cache(id(onnx_int8)).clear()
    first = encode(Idx, [s, "A much longer sentence about something else entirely " * 6])[0]
    vector_cache(id(onnx_int8)).clear()
    again = encode(Idx, ["Short one.", s])[1]
    assert np.array_equal(first, again) and onnx_int8.batch_invariant is False
