"""Evaluation: run a labelled question set through answer() and score retrieval, answers, refusals, citations."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .answering import answer
from .corpus import load_corpus
from .errors import InvalidQuery
from .retrieval import Index

__all__ = ["EvalCase", "load_cases", "evaluate"]


@dataclass(frozen=True)
class EvalCase:
    """One labelled question: gold files, strings any of which the answer must contain, and its type."""

    question: str
    sources: tuple[str, ...]
    answer_any: tuple[str, ...]
    type: str
    history: tuple[str, ...] = ()  # earlier questions of the conversation, answered live


def load_cases(path: Path | str) -> list[EvalCase]:
    cases = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            cases.append(EvalCase(d["question"], tuple(d.get("sources", [])), tuple(d.get("answer_any", [])),
                                  d.get("type", "fact"), tuple(d.get("history", []))))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise InvalidQuery(f"{path} line {n} is not a question record ({e}); see 'rag eval --help'") from e
    return cases


def _citation_ok(c, articles) -> bool:
    """The quote is in the cited file at the stated offsets, and the date is that article's date."""
    a = articles.get(c.source)
    if a is None or a.text[c.start : c.end] != c.quote or a.date != c.date:
        return False
    return all(articles.get(r.source) is not None and articles[r.source].date == r.date for r in c.also_in)


def evaluate(path: Path | str, idx: Index, *, k: int = 5, today=None, reader=None) -> dict:
    """Figures per question type and overall; citations are checked against the files on disk."""
    cases = load_cases(path)
    articles = {a.source: a for a in load_corpus(idx.store.manifest.get("corpus_paths") or []).articles}
    rows = []
    for case in cases:
        history = []
        for q in case.history:
            history.append((q, answer(q, history=history, index=idx, settings=idx.settings, today=today,
                                      reader=reader).text))
        a = answer(case.question, history=history, index=idx, settings=idx.settings, today=today, reader=reader)
        cited = {c.source for c in a.citations} | {r.source for c in a.citations for r in c.also_in}
        row = {"question": case.question, "type": case.type, "refused": a.refused, "answer": a.text}
        if case.type == "refuse":
            row["correct_refusal"] = a.refused
        else:
            hits = idx.search(a.resolved_question or case.question, k=k)
            got = {h.source for h in hits}
            row["recall"] = len(got & set(case.sources)) / len(case.sources) if case.sources else 1.0
            contains = any(s.lower() in a.text.lower() for s in case.answer_any) if case.answer_any else True
            row["hit"] = (not a.refused) and contains and bool(cited & set(case.sources))
            row["correct_refusal"] = not a.refused
        row["citations"] = len(a.citations)
        row["citations_ok"] = sum(_citation_ok(c, articles) for c in a.citations)
        rows.append(row)
    return {"k": k, "by_type": _summary(rows, by_type=True), "overall": _summary(rows)["all"], "questions": rows}


def _summary(rows: list[dict], by_type: bool = False) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["type"] if by_type else "all"].append(r)
    out = {}
    for name, rs in groups.items():
        answerable = [r for r in rs if r["type"] != "refuse"]
        refuse = [r for r in rs if r["type"] == "refuse"]
        cites = sum(r["citations"] for r in rs)
        out[name] = {
            "questions": len(rs),
            "answerable": len(answerable),
            "recall_at_k": _mean([r["recall"] for r in answerable]),
            "answer_hit_rate": _mean([float(r["hit"]) for r in answerable]),
            "refusal_accuracy": _mean([float(r["correct_refusal"]) for r in rs]),
            "false_refusals": sum(1 for r in answerable if r["refused"]),
            "false_answers": sum(1 for r in refuse if not r["refused"]),
            "citation_correctness": (sum(r["citations_ok"] for r in rs) / cites) if cites else None,
        }
    return out


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None
