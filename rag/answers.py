"""Answers as values: the answer text, its citations (file, date, exact quote, offsets) and the LLM endpoint.

Shared by the extractive composer and the optional LLM generation, so neither
imports the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = ["Answer", "Citation", "Report", "LLMConfig", "REFUSAL", "NO_DATES"]

REFUSAL = "The articles don't cover this."
NO_DATES = "Nothing in this date range: no article published {window} is in the index{cover}."


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
    carrying the same passage, earliest first. ``answer_start``/``answer_end``
    mark, inside the article text, the short span that answers a who / when /
    where / how-many question (-1 when there is none); ``label`` names the side
    of a comparison this quote stands for ("TechCrunch, 2023-10-31").
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
    answer_start: int = -1
    answer_end: int = -1
    label: str = ""

    @property
    def answer_span(self) -> str:
        """The short answer inside the quote, or ''."""
        if self.answer_start < self.start or self.answer_end > self.end or self.answer_start >= self.answer_end:
            return ""
        return self.quote[self.answer_start - self.start : self.answer_end - self.start]

    def to_dict(self) -> dict:
        d = {
            "n": self.n, "source": self.source, "date": self.date.isoformat() if self.date else None,
            "title": self.title, "quote": self.quote, "start": self.start, "end": self.end,
            "score": round(float(self.score), 4), "also_in": [r.to_dict() for r in self.also_in],
            "publisher": self.publisher, "url": self.url,
        }
        if self.answer_span:
            d["answer"] = {"text": self.answer_span, "start": self.answer_start, "end": self.answer_end}
        if self.label:
            d["label"] = self.label
        return d


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
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
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
