"""MultiHop-RAG for the reader: every question (null ones included) with its split, gold answer and evidence.

The split is fixed by a hash of the question text, so it never depends on file
order or on what a run looked at: 60% ``fit`` (models are fit on it), 20% ``dev``
(features, model sizes and thresholds are chosen on it), 20% ``test`` (reported,
never used to choose anything).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "bench" / "multihop-rag"
CORPUS = DATA / "corpus.json"
CACHE = Path(os.environ.get("DATELINE_BENCH_CACHE", ROOT / "bench" / "out"))


@dataclass(frozen=True)
class MHQuestion:
    """One MultiHop-RAG question: text, type, gold answer, gold facts and the citation keys of its articles."""

    n: int
    query: str
    type: str  # inference_query, comparison_query, temporal_query, null_query
    answer: str
    facts: tuple[str, ...]
    sources: frozenset[str]  # "corpus.json#<url>", as Dateline cites a collection's article
    split: str


def split_of(query: str) -> str:
    h = int(hashlib.sha256(query.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "fit" if h < 6 else "dev" if h < 8 else "test"


def load(path: Path = DATA / "MultiHopRAG.json") -> list[MHQuestion]:
    out = []
    for n, q in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        ev = q["evidence_list"]
        out.append(MHQuestion(n, q["query"], q["question_type"], q["answer"], tuple(e["fact"] for e in ev),
                              frozenset(f"{CORPUS.name}#{e['url']}" for e in ev), split_of(q["query"])))
    return out


def ensure_index(root: Path) -> Path:
    """MultiHop-RAG indexed at ``root`` through the CLI, as a user would (reused when already there)."""
    if not (root / "CURRENT").exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        print(f"indexing {CORPUS} into {root} with 'rag index' ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "rag", "index", str(CORPUS), "--index", str(root)], cwd=ROOT,
                       check=True)
    return root


_WORDS = re.compile(r"\w+")


def norm_words(text: str) -> list[str]:
    return _WORDS.findall(unicodedata.normalize("NFKC", text).lower().replace("’", "'"))


def states_fact(sentence: str, facts: tuple[str, ...]) -> bool:
    """Does ``sentence`` hold one of the gold facts? (most of a fact's words, or the fact holds the sentence)."""
    sw = norm_words(sentence)
    if len(sw) < 3:
        return False
    s_join = " ".join(sw)
    sset = set(sw)
    for f in facts:
        fw = norm_words(f)
        if not fw:
            continue
        f_join = " ".join(fw)
        if f_join in s_join or (len(sw) >= 6 and s_join in f_join):
            return True
        if len(set(fw) & sset) / len(set(fw)) >= 0.75 and len(sset & set(fw)) / len(sset) >= 0.5:
            return True
    return False


def contains_answer(text: str, answer: str) -> bool:
    """The gold answer appears in ``text`` (case and punctuation folded; word boundaries respected)."""
    a = " ".join(norm_words(answer))
    return bool(a) and f" {a} " in f" {' '.join(norm_words(text))} "
