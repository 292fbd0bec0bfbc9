"""Embedding jobs: every chunk text of an indexing run encoded, in this process or as a Ray Data job.

Both ways cut the texts into the same groups (longest first, ``16 * batch_size``
texts each) and hand each group whole to one encoder, which batches it the same
way; so a Ray job computes what a local run computes, group for group, and the
index it writes is the same. On Ray each actor loads one encoder (the model by
name, with one thread per CPU it was given) and keeps it for every group it is
sent: ``map_batches`` over a dataset of groups, local when no address is given.

Ray is an optional extra (``pip install 'dateline[scale]'``); nothing here
imports it unless a Ray job is asked for.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .embedding import Embedder, load_embedder
from .errors import RagError

__all__ = ["groups", "encode_local", "encode_texts", "encode_on_ray", "LOCAL"]

#: ``--ray`` without an address: start a Ray instance on this machine for the job, stop it after.
LOCAL = "local"
_RUNTIMES = ("torch", "onnx-fp32", "onnx-int8")


def groups(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Indices of ``texts`` longest first, cut into groups of ``16 * batch_size``: one progress step each.

    >>> [g.tolist() for g in groups(["a", "ccc", "bb"], batch_size=1)]
    [[1, 2, 0]]
    """
    if not texts:
        return []
    order = np.argsort([-len(t) for t in texts], kind="stable")
    size = max(batch_size, 16 * batch_size)
    return [order[g : g + size] for g in range(0, len(order), size)]


def encode_local(embedder: Embedder, texts: Sequence[str], batch_size: int, progress: bool) -> np.ndarray:
    """Encode in this process, group after group, with one progress bar counting chunks."""
    from tqdm import tqdm

    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    with tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not progress, leave=False) as bar:
        for idx in groups(texts, batch_size):
            out[idx] = embedder.encode([texts[i] for i in idx], batch_size=batch_size)
            bar.update(len(idx))
    return out


def encode_texts(embedder: Embedder, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False,
                 ray: str | None = None) -> np.ndarray:
    """(len(texts), dimension) float32 vectors of ``texts``: here, or on Ray when ``ray`` names an address
    (``LOCAL`` for a Ray instance started on this machine)."""
    if ray is None or not texts:
        return encode_local(embedder, texts, batch_size, progress)
    return encode_on_ray(embedder, texts, batch_size=batch_size, progress=progress, address=ray)


class _Encoder:
    """One Ray actor's encoder: loaded once when the actor starts, then fed whole groups."""

    def __init__(self, model: str, encoder: str | None, cache_dir: str | None, threads: int, batch_size: int,
                 embedder: Embedder | None = None):
        self.embedder = embedder or load_embedder(model, encoder, Path(cache_dir) if cache_dir else None, threads)
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        rows = [np.asarray(r, dtype=np.int64) for r in batch["rows"]]
        vecs = [self.embedder.encode([str(t) for t in texts], batch_size=self.batch_size) for texts in batch["texts"]]
        return {"row": np.concatenate(rows), "vector": np.concatenate(vecs).astype(np.float32)}


def _ray():
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")  # Ray Data's progress lines; a tqdm bar counts instead
    try:
        import ray
        import ray.data  # noqa: F401  (the Data library is a separate part of Ray)
    except ImportError as e:
        raise RagError("--ray needs Ray: pip install 'dateline[scale]' (it installs ray[data])") from e
    return ray


def encode_on_ray(embedder: Embedder, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False,
                  address: str = LOCAL, actors: int | None = None) -> np.ndarray:
    """Encode ``texts`` as a Ray Data job: one actor per CPU of the cluster, one encoder per actor.

    ``address`` is ``LOCAL`` (start Ray here, stop it after), ``auto`` (the cluster
    this machine belongs to) or ``ray://HOST:PORT``. The actors load the model
    by its name and runtime (``embedder.name``, ``embedder.encoder``); any other
    embedder is shipped to them as it is, so it must pickle.
    """
    ray = _ray()
    from tqdm import tqdm

    started = not ray.is_initialized()
    if started:
        _start(ray, address)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actors = max(1, min(actors or cpus, cpus))
        parts = groups(texts, batch_size)
        items = [{"rows": g, "texts": [texts[i] for i in g]} for g in parts]
        runtime = getattr(embedder, "encoder", None)
        by_name = runtime in _RUNTIMES
        kwargs = dict(model=embedder.name, encoder=runtime, cache_dir=_cache_dir(embedder), threads=1,
                      batch_size=batch_size, embedder=None if by_name else embedder)
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        pool = ray.data.ActorPoolStrategy(size=max(1, min(actors, len(items))))
        with warnings.catch_warnings():  # max_restarts travels in the deprecated ray_remote_args; 0 keeps a
            warnings.simplefilter("ignore", DeprecationWarning)  # failed actor from being restarted with lost args
            job = ds.map_batches(_Encoder, fn_constructor_kwargs=kwargs, batch_size=1, batch_format="numpy",
                                 compute=pool, num_cpus=cpus / actors, max_restarts=0)
        out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
        done = np.zeros(len(texts), dtype=bool)
        with tqdm(total=len(texts), desc="embedding on ray", unit="chunk", disable=not progress, leave=False) as bar:
            for batch in job.iter_batches(batch_size=None, batch_format="numpy"):
                rows = np.asarray(batch["row"], dtype=np.int64)
                out[rows] = np.asarray(batch["vector"], dtype=np.float32)
                done[rows] = True
                bar.update(len(rows))
        if not done.all():
            raise RagError(f"the Ray job returned vectors for {int(done.sum())} of {len(texts)} chunks; nothing was written")
        return out
    finally:
        if started:
            ray.shutdown()


def _cache_dir(embedder: Embedder) -> str | None:
    """Where the actors find the ONNX export: the directory this process loaded it from."""
    path = getattr(embedder, "onnx_file", None)
    return str(Path(path).parent.parent) if path else None


def _start(ray, address: str) -> None:
    """Start (``LOCAL``) or join a Ray cluster, quietly; the actors import ``rag`` from where this process does."""
    import rag

    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    package = Path(rag.__file__).resolve().parent
    if address == LOCAL:
        path = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH", "")) if p)
        runtime_env = {"env_vars": {"PYTHONPATH": path, "TOKENIZERS_PARALLELISM": "false",
                                    "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}}
        kwargs = dict(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False)
    else:
        runtime_env = {"py_modules": [str(package)], "env_vars": {"TOKENIZERS_PARALLELISM": "false"}}
        kwargs = dict(address=address)
    try:
        ray.init(runtime_env=runtime_env, logging_level=logging.WARNING, log_to_driver=False,
                 configure_logging=True, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise RagError(f"cannot start or reach Ray at {address!r}: {e}") from e
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
