"""Answering: short answers whose every sentence is a quoted, cited passage with file and date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Answer", "Citation", "Report", "LLMConfig", "answer", "answer_stream", "REFUSAL"]

REFUSAL = "The articles don't cover this."


@dataclass(frozen=True)
class Report:
    """Another article carrying the same (or nearly the same) passage."""

    source: str
    date: dt.date | None
    title: str = ""
    start: int = -1
    end: int = -1

    def to_dict(self) -> dict:
        return {"source": self.source, "date": self.date.isoformat() if self.date else None}


@dataclass(frozen=True)
class Citation:
    """Evidence ``[n]``: the exact quote, where it sits in which article, and when that was published.

    ``quote == article.text[start:end]``; ``also_in`` lists other articles
    carrying the same passage, earliest first.
    """

    n: int
    source: str
    date: dt.date | None
    title: str
    quote: str
    start: int
    end: int
    score: float
    also_in: tuple[Report, ...] = ()
    publisher: str | None = None
    url: str | None = None
    passage: str = ""  # the surrounding chunk, for showing the quote in context
    passage_start: int = -1

    def to_dict(self) -> dict:
        return {
            "n": self.n, "source": self.source, "date": self.date.isoformat() if self.date else None,
            "title": self.title, "quote": self.quote, "start": self.start, "end": self.end,
            "score": round(float(self.score), 4), "also_in": [r.to_dict() for r in self.also_in],
        }


@dataclass(frozen=True)
class Answer:
    """An answer: text with ``[n]`` markers, and the citations those markers point to."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    notice: str | None = None  # e.g. "the LLM server failed; this is the extractive answer"
    resolved_question: str | None = None  # the follow-up as rewritten against the conversation
    since: dt.date | None = None
    until: dt.date | None = None

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answer": self.text, "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations], "notice": self.notice,
        }

    def to_text(self) -> str:
        """The answer with its sources spelled out, for copying elsewhere."""
        lines = [self.text]
        if self.citations:
            lines.append("")
            lines.append("Sources:")
            for c in self.citations:
                also = "".join(f"; also {r.source} ({r.date or 'date unknown'})" for r in c.also_in)
                lines.append(f"[{c.n}] {c.source} ({c.date or 'date unknown'}) — {c.title}: “{c.quote}”{also}")
        return "\n".join(lines)


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible chat-completions server (Ollama, llama.cpp, vLLM, LM Studio, OpenAI)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0


def answer(question: str, *, history: Sequence[tuple[str, str]] = (), since: dt.date | str | None = None,
           until: dt.date | str | None = None, index: Path | str | None = None, settings=None,
           llm: LLMConfig | None = None, today: dt.date | None = None, sources: Sequence[str] | None = None,
           publishers: Sequence[str] | None = None) -> Answer:
    """Answer ``question`` from the articles, every sentence cited with file and date.

    >>> a = answer("Who handed Alec Baldwin the gun?")
    >>> a.citations[0].source, a.citations[0].date
    ('004_3895aaea98e54197.txt', datetime.date(2021, 12, 2))
    """
    final = None
    for final in answer_stream(question, history=history, since=since, until=until, index=index,
                               settings=settings, llm=llm, today=today, sources=sources, publishers=publishers):
        pass
    return final


def answer_stream(question: str, **kwargs) -> Iterator[Answer]:
    """Like ``answer``, yielding partial Answers as text arrives (the last one is final)."""
    raise NotImplementedError  # implemented next
