"""A slice of MultiHop-RAG with the real model: a regression guard for multi-article retrieval.

36 questions (12 of each type with evidence), chosen by a fixed stride through the
file, and only the 40 articles their evidence cites, indexed with ``index_corpus``.
The floors sit a few points under what the full pipeline measured when they were
set, and above what dense search alone reaches on the same slice.
"""

from __future__ import annotations

import collections
import json
import sys

import pytest

from rag import Index, Settings
from rag.indexing import index_corpus
from tests.conftest import MULTIHOP, ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_multihop as bench  # noqa: E402

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not (MULTIHOP / "corpus.json").exists(), reason="MultiHop-RAG data not present"),
]

# Measured when set, full pipeline: fact-recall 0.671, complete 0.389, Hits@10 0.917, MRR@10 0.651;
# dense alone: 0.424, 0.278, 0.583, 0.384. The floors sit about two questions under the pipeline's
# figures (one question of 36 moves complete@10 or Hits@10 by 0.028).
FLOORS = {"fact_recall": 0.62, "complete": 0.33, "hits10": 0.86, "mrr10": 0.60}


def _slice(limit: int = 40, per_type: int = 12, stride: int = 37) -> tuple[list[bench.Question], list[dict]]:
    """Questions taken in stride order while their evidence fits within ``limit`` articles; those articles."""
    questions = bench.load_questions()
    urls: set[str] = set()
    chosen: list[bench.Question] = []
    count: collections.Counter = collections.Counter()
    for j in range(len(questions)):
        q = questions[(j * stride) % len(questions)]
        if count[q.type] < per_type and len(urls | q.urls) <= limit:
            urls |= q.urls
            chosen.append(q)
            count[q.type] += 1
    articles = [a for a in json.loads((MULTIHOP / "corpus.json").read_text()) if a["url"] in urls]
    return chosen, articles


@pytest.fixture(scope="module")
def slice_index(tmp_path_factory, real_embedder):
    questions, articles = _slice()
    folder = tmp_path_factory.mktemp("multihop-slice")
    (folder / "slice.json").write_text(json.dumps(articles))
    root = folder / "index"
    report = index_corpus([folder / "slice.json"], settings=Settings(index=root), embedder=real_embedder)
    assert report.articles == len(articles) == 40
    return questions, root


def _scores(root, embedder, questions, **switches) -> bench.Scores:
    idx = Index.open(root, settings=Settings(index=root, **switches), embedder=embedder)
    rows, _ = bench.evaluate(questions, lambda q: idx.search(q, k=bench.K))
    return bench.score(rows)


def test_the_slice_is_what_it_says():
    questions, articles = _slice()
    assert len(questions) == 36 and len(articles) == 40
    assert collections.Counter(q.type for q in questions) == {t: 12 for t in bench.TYPES}


def test_full_pipeline_stays_above_its_floors(slice_index, real_embedder):
    questions, root = slice_index
    s = _scores(root, real_embedder, questions)
    for name, floor in FLOORS.items():
        assert getattr(s, name) >= floor, (name, getattr(s, name), s)
    dense = _scores(root, real_embedder, questions, lexical=False, metadata=False, coverage=False)
    assert s.fact_recall > dense.fact_recall + 0.1 and s.complete > dense.complete


def test_comparisons_typed_without_capitals_still_find_each_publishers_report(slice_index, real_embedder):
    # Lower case hides the publishers and names a comparison is split by ("did techcrunch and the verge ...");
    # the archive's own capitals bring them back. Measured when set: the 12 comparison questions cite 25 of
    # their gold articles as written and 21 typed in lower case (12 and one refusal without the capitals).
    from rag import answer

    questions, root = slice_index
    idx = Index.open(root, settings=Settings(index=root), embedder=real_embedder)

    def cited(text: str, q) -> int:
        a = answer(text, index=idx, settings=idx.settings)
        assert not a.refused, text
        return sum(any(u == c.url for c in a.citations) for u in q.urls)

    comparisons = [q for q in questions if q.type == "comparison_query"]
    cased = sum(cited(q.query, q) for q in comparisons)
    lower = sum(cited(q.query.lower(), q) for q in comparisons)
    assert cased >= 20 and lower >= 0.75 * cased, (lower, cased)


def test_paper_metric_matches_upstream_arithmetic():
    gold = ["the cat sat", "dogs bark"]
    retrieved = ["nothing", "the cat\nsat down", "x", "dogs  bark and the cat sat"]
    hit10, hit4, ap, rr = bench.paper_metrics(retrieved, gold)
    # rank 2 holds fact 1 (spaces and newlines ignored, case kept, as upstream): precision 1/2; rank 4 holds fact 2 (fact 1 counted
    # already): 1/4. AP = (1/2 + 1/4) / min(2, 10) = 0.375; first hit at rank 2: RR = 0.5.
    assert (hit10, hit4, ap, rr) == (True, True, 0.375, 0.5)
    assert bench.paper_metrics(["a", "b", "c", "d", "the cat sat"], gold) == (True, False, (1 / 5) / 2, 1 / 5)
    assert bench.fact_recall(retrieved, gold) == 1.0 and bench.fact_recall(retrieved[:2], gold) == 0.5
