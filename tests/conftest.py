"""Shared fixtures: the real model loads once per session; fast tests use the hash embedder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag import HashEmbedder, Settings, load_embedder  # noqa: E402
from rag.retrieval import index_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
MULTIHOP = ROOT.parent / "shared" / "bench" / "multihop-rag"
GUN = "004_3895aaea98e54197.txt"


@pytest.fixture(scope="session")
def real_embedder():
    """all-MiniLM-L6-v2 from the installed package: loaded once for the whole run."""
    return load_embedder()


@pytest.fixture
def hash_embedder():
    return HashEmbedder(dimension=64, max_tokens=64)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, real_embedder) -> Path:
    """seeds/ indexed with the real model, shared read-only by the tests that search it."""
    root = tmp_path_factory.mktemp("seed-index")
    index_corpus([SEEDS], settings=Settings(index=root), embedder=real_embedder)
    return root


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    d = tmp_path / "seeds"
    shutil.copytree(SEEDS, d)
    return d
