"""ONNX Runtime encoder: the sentence-transformers model exported once from torch, then run without it.

Why: importing torch and sentence-transformers takes seconds and hundreds of
megabytes, which every question used to pay; ONNX Runtime and ``tokenizers``
load in a fraction of a second and run the same network about twice as fast
on a CPU.

The export (``torch.onnx.export`` of the transformer with mean pooling and L2
normalisation inside the graph, so its output *is* the sentence embedding) runs
once, in a child process so the asking process never loads torch, into a cache
directory keyed by the model's checksum::

    <cache>/<model folder name>-<sha256 of the weights, 16 hex>-v<EXPORT_VERSION>/
        model-fp32.onnx       the exported network
        model-fp32.onnx.data  its weights (memory-mapped when loaded)
        model-int8.onnx       the same, weights dynamically quantised to int8 per channel

Files are written in a temporary directory beside them and renamed into place,
the ``.onnx`` last, and a lock file lets one process export while the others
wait, so a kill mid-export or two processes starting at once never leave a
broken model behind.

``make install`` exports ahead of time (by loading the default encoder once), so
that the first question does not wait for it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import RagError

__all__ = ["OnnxEmbedder", "ONNX_ENCODERS", "EXPORT_VERSION", "default_cache_dir", "ensure_exported", "export_dir"]

#: Bumped whenever the exported files change, so older exports are not reused.
EXPORT_VERSION = 2
#: Encoder names (as recorded in an index manifest) → file in the export directory.
ONNX_ENCODERS = {"onnx-fp32": "model-fp32.onnx", "onnx-int8": "model-int8.onnx"}
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: Most texts × pieces² in one batch: one chunk of 256 pieces, 4 of 128, 16 of 64 (docs/benchmarks.md, "Fast and light").
PIECE_PAIRS_PER_BATCH = 4 * 128 * 128


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dateline``, or ``~/.cache/dateline``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dateline"


def _weights(model_dir: Path) -> Path:
    for name in _WEIGHTS:
        if (model_dir / name).is_file():
            return model_dir / name
    raise RagError(f"no model weights ({' or '.join(_WEIGHTS)}) in {model_dir}/")


def check_exportable(model_dir: Path) -> None:
    """Refuse, with what to do instead, a model folder this encoder would not reproduce exactly.

    The graph computes transformer → mean pooling → L2 normalisation, which is
    what all-MiniLM-L6-v2 (and most sentence-transformers models) do.
    """
    def fail(why: str) -> RagError:
        return RagError(f"the ONNX encoder cannot run the model in {model_dir}/: {why}. "
                        "Set DATELINE_ENCODER=torch to use sentence-transformers for it.")

    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_dir / "modules.json").read_text())]
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError) as e:
        raise fail(f"it is not a sentence-transformers folder ({e})") from e
    if modules != ["Transformer", "Pooling", "Normalize"]:
        raise fail(f"its modules are {modules}, not Transformer, Pooling, Normalize")
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise fail(f"it pools by {modes}, not by the mean of its tokens")
    if not (model_dir / "tokenizer.json").is_file():
        raise fail("it has no tokenizer.json")
    _weights(model_dir)


def export_dir(model_dir: Path, cache_dir: Path) -> Path:
    """Where the exports of the model in ``model_dir`` live: named by a checksum of its weights."""
    with open(_weights(model_dir), "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return cache_dir / f"{model_dir.name}-{digest[:16]}-v{EXPORT_VERSION}"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold the export lock of ``directory``: one exporting process at a time, the others wait."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_exported(model_dir: Path, cache_dir: Path, encoder: str) -> Path:
    """The ONNX file for ``encoder``, exporting it first (in a child process) if it is not cached yet."""
    target = export_dir(model_dir, cache_dir) / ONNX_ENCODERS[encoder]
    if target.is_file():
        return target
    check_exportable(model_dir)
    try:
        with _locked(target.parent):
            if not target.is_file():  # else another process finished the export while this one waited
                _export_in_child(model_dir, target)
    except OSError as e:
        raise RagError(f"cannot write the ONNX export into {target.parent}/ ({e}); "
                       "set DATELINE_CACHE_DIR to a writable directory, or DATELINE_ENCODER=torch") from e
    return target


def _export_in_child(model_dir: Path, target: Path) -> None:
    """Run ``export`` in a child process: torch then never takes up this process's memory."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), *filter(None, [os.environ.get("PYTHONPATH")])]))
    cmd = [sys.executable, "-m", "rag.onnx_encoder", "--model-dir", str(model_dir), "--out", str(target.parent)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not target.is_file():
        tail = " ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit code {proc.returncode}"
        raise RagError(f"could not export the model to ONNX into {target.parent}/: {tail}. "
                       "Check that the directory is writable (or set DATELINE_CACHE_DIR), "
                       "or set DATELINE_ENCODER=torch.")


@contextlib.contextmanager
def _scratch(out: Path) -> Iterator[Path]:
    """A temporary directory inside ``out`` (same file system, so its files can be renamed into place)."""
    tmp = out / f".tmp-{os.getpid()}"
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _move_in(tmp: Path, out: Path, names: Sequence[str]) -> None:
    """Flush ``names`` to disk, then rename each into ``out``; the last is the one readers look for."""
    for name in names:
        with open(tmp / name, "rb") as f:
            os.fsync(f.fileno())
    for name in names:
        os.replace(tmp / name, out / name)


def export(model_dir: Path, out: Path) -> None:
    """Write every missing file of ``ONNX_ENCODERS`` into ``out`` (needs torch, transformers and onnx).

    The caller holds the export lock. What an export that was killed left
    behind is removed first.
    """
    import warnings

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    fp32, int8 = ONNX_ENCODERS["onnx-fp32"], ONNX_ENCODERS["onnx-int8"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constants that cannot change here
        if not (out / fp32).is_file():
            with _scratch(out) as tmp:
                _export_fp32(model_dir, tmp / fp32)
                _move_in(tmp, out, [fp32 + ".data", fp32])
        if not (out / int8).is_file():
            with _scratch(out) as tmp:
                _quantize(out / fp32, tmp / int8)
                _move_in(tmp, out, [int8])


def _export_fp32(model_dir: Path, path: Path) -> None:
    import torch
    from transformers import AutoModel

    class MeanPooled(torch.nn.Module):
        """The transformer, then sentence-transformers' mean pooling and Normalize modules."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    import onnx

    model = MeanPooled(AutoModel.from_pretrained(str(model_dir)).eval())
    example = torch.ones((2, 8), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    whole = path.with_name("whole.onnx")
    with torch.inference_mode():
        torch.onnx.export(
            model, (example, example, torch.zeros_like(example)), str(whole), dynamo=False,
            input_names=list(_INPUTS), output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}}, opset_version=17,
        )
    # Weights in a file of their own, which ONNX Runtime maps into memory instead of copying: a process
    # holding the fp32 model then takes about 100 MB instead of 175 MB.
    onnx.save_model(onnx.load(str(whole)), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=1024)
    os.chmod(path.with_name(path.name + ".data"), os.stat(path).st_mode & 0o777)  # onnx writes it owner-only


def _quantize(fp32: Path, path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per channel: one scale per output column. One scale per tensor lost too much (cosine to fp32 0.95 on
    # average, 0.91 at worst, on MultiHop-RAG chunks); per channel keeps it at 0.994 (docs/benchmarks.md).
    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True)


class OnnxEmbedder:
    """The exported model on ONNX Runtime, with the model's own tokenizer; implements ``Embedder``.

    Safe to share between threads: the session's ``run`` is, and the two
    tokenizers are configured once here and never changed afterwards.
    """

    def __init__(self, model_dir: Path, onnx_file: Path, *, name: str, encoder: str, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name, self.encoder = name, encoder
        # int8 weights are paired with activations quantised on the fly, one scale for a whole batch: a text's
        # vector then depends a little on the texts it was batched with (cosine 0.993 to itself), so whoever
        # needs the same vector for the same text every time encodes it alone
        self.batch_invariant = encoder != "onnx-int8"
        self.onnx_file = onnx_file  # <cache dir>/<export dir>/<file>: where other processes find the same export
        self.max_tokens = int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
        # tokenizer.json ships with padding to 128 and truncation at 128: both are switched off for
        # counting, and truncation is set to the model's own limit for encoding, as sentence-transformers does.
        self._counter = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._counter.no_padding()
        self._counter.no_truncation()
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(self.max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        # Threads that spin while waiting for each other make a query 10x slower when another process holds
        # a core (the torch encoder had the same problem, see docs/benchmarks.md); waiting idle costs nothing.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_mem_pattern = False  # it plans for one input shape, and every batch has its own
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a damaged file
            raise RagError(f"cannot load the ONNX model {onnx_file}: {e}. Delete {onnx_file.parent}/ "
                           "to export it again.") from e
        self.dimension = int(self._session.get_outputs()[0].shape[1])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))] if texts else []

    def token_ends(self, text: str) -> list[int]:
        return [end for _, end in self._counter.encode(text, add_special_tokens=False).offsets]

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Longest first, each batch padded only to its own longest text; rows come back in input order.

        A batch holds at most ``batch_size`` texts, and fewer long ones: attention
        takes memory in proportion to texts × pieces², so 64 chunks of 256 pieces
        at once would grow the process by hundreds of megabytes for no speed.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        from tqdm import tqdm

        pieces = [e.ids for e in self._tok.encode_batch(list(texts))]
        lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
        order = np.argsort(-lengths, kind="stable")
        with tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not progress, leave=False) as bar:
            start = 0
            while start < len(order):
                width = int(lengths[order[start]])
                rows = order[start : start + max(1, min(batch_size, PIECE_PAIRS_PER_BATCH // width**2))]
                start += len(rows)
                ids = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    ids[r, : lengths[i]] = pieces[i]
                mask = (np.arange(width) < lengths[rows][:, None]).astype(np.int64)
                feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
                out[rows] = self._session.run(None, feed)[0]
                bar.update(len(rows))
        return out


def main(argv: Sequence[str] | None = None) -> int:
    """Export a model folder's ONNX files; run by ``ensure_exported``, which holds the export lock."""
    p = argparse.ArgumentParser(prog="python -m rag.onnx_encoder", description=main.__doc__)
    p.add_argument("--model-dir", type=Path, required=True, help="sentence-transformers model folder")
    p.add_argument("--out", type=Path, required=True, help="export directory")
    a = p.parse_args(argv)
    try:
        check_exportable(a.model_dir)
        export(a.model_dir, a.out)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
