"""Shared fixtures: the real model loads once per session; fast tests use the hash embedder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag import HashEmbedder, Settings, load_embedder  # noqa: E402
from rag.indexing import index_corpus  # noqa: E402

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


# -- a real PostgreSQL + pgvector for the whole run ------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """PostgreSQL 16 with pgvector, started once for the run by pgserver (as root it runs as a system user
    'pgserver' it creates); the tests that need it are skipped, saying why, only if it cannot start here."""
    try:
        import pgserver
        import psycopg  # noqa: F401
        import pgvector  # noqa: F401
    except ImportError as e:
        pytest.skip(f"PostgreSQL could not be started: {e.name} is not installed ('make test' installs the scale "
                    f"extras: pip install -e '.[test,test-scale]')")
    try:
        server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    except Exception as e:  # pgserver raises whatever initdb or pg_ctl raised
        pytest.skip(f"pgserver could not start PostgreSQL here: {type(e).__name__}: {e}")
    yield server
    server.cleanup()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A URL to a new, empty database on the shared server (the index is created in it by the first write)."""
    return new_database(pg_server)


def new_database(server) -> str:
    import uuid

    import psycopg

    name = f"dateline_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.get_uri(name)


@pytest.fixture(scope="session")
def pg_seed_url(pg_server, real_embedder) -> str:
    """seeds/ indexed with the real model into PostgreSQL, shared read-only like ``seed_index``."""
    url = new_database(pg_server)
    index_corpus([SEEDS], settings=Settings(index=url), embedder=real_embedder)
    return url
