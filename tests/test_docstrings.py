"""The examples in the library's docstrings run, with the real model, against a copy of the seeds index.

Each module's examples run in a fresh directory holding ``seeds/`` and a copy of
the seeds index as ``vectorstore/`` (the defaults), so an example that adds an
upload changes only its own copy.
"""

from __future__ import annotations

import doctest
import importlib
import shutil

import pytest

from tests.conftest import SEEDS

MODULES = ["rag.analysis", "rag.answering", "rag.dates", "rag.generation", "rag.query", "rag.retrieval", "rag.uploads",
           "rag.cli", "rag.embed_jobs", "rag.pgconnect", "rag.pgstore", "rag.pgwrite"]

pytestmark = pytest.mark.model


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name, seed_index, tmp_path, monkeypatch):
    shutil.copytree(seed_index, tmp_path / "vectorstore", symlinks=True)
    (tmp_path / "seeds").symlink_to(SEEDS)
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, report=True)
    assert result.attempted > 0, f"{name} has no examples to run"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (printed above)"
