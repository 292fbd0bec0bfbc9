"""Candidate sentences: the sentences of the retrieved passages that could be quoted, where each sits in its
article, and their vectors (remembered across questions).

``Sentence`` becomes ``Evidence`` once the reader has scored it, with its best short answer (``Span``); the
composer quotes evidence, so every quote carries its article, date and offsets.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .analysis import WORD, content_words
from .chunking import split_sentences
from .retrieval import Hit, Index

__all__ = ["Sentence", "Span", "Evidence", "quote_sentences", "candidates", "stems", "encode", "vector_cache",
           "ASKS", "VECTOR_CACHE", "terms_before"]

VECTOR_CACHE = 50_000  # sentence vectors kept per embedder (about 80 MB)


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence: where it sits in which article, and the retrieved passage it came from."""

    text: str
    start: int  # offsets into the article text
    end: int
    hit: Hit
    rank: float  # the rank of its passage in retrieval (0 = first); neighbours of a passage rank behind it


@dataclass(frozen=True)
class Span:
    """A short answer inside a sentence (offsets into the article text) and its probability."""

    text: str
    start: int
    end: int
    kind: str  # "name", "number", "date", "place"
    score: float


@dataclass(frozen=True)
class Evidence:
    """A sentence with the reader's probability that it states the answer, and its best short answer."""

    sentence: Sentence
    score: float
    dense: float
    span: Span | None = None
    fits: bool = True  # holds the kind of thing the question asks for (a name for "who", a number for "how many")

    @property
    def hit(self) -> Hit:
        return self.sentence.hit


def quote_sentences(text: str) -> list[tuple[int, int]]:
    """Sentences, with a quotation that runs on past a full stop kept whole (up to three sentences)."""
    spans = split_sentences(text)
    out, i = [], 0
    while i < len(spans):
        s, e = spans[i]
        j = i
        while (text[s:e].count("“") > text[s:e].count("”") and j + 1 < len(spans) and j - i < 2
               and "\n" not in text[e : spans[j + 1][0]]):
            j += 1
            e = spans[j][1]
        out.append((s, e))
        i = j + 1
    return out


ASKS = re.compile(r"\?[\s”\"'’)\]]*$")


def candidates(hits: Sequence[Hit], ranks: Sequence[float] | None = None) -> list[Sentence]:
    """Every sentence of four words or more in ``hits``, each once (chunks overlap), in hit order.

    A sentence that is itself a question states nothing, so it is never an answer:
    "Readers keep asking us: who handed him the gun?" or "Stephanopoulos asked, 'So,
    you never pulled the trigger?'" only echo what the user asks.
    """
    seen: set[tuple[str, int]] = set()
    out = []
    for n, h in enumerate(hits):
        for s, e in quote_sentences(h.text):
            text = h.text[s:e]
            key = (h.source, h.start + s)
            if key in seen or len(WORD.findall(text)) < 4 or ASKS.search(text):
                continue
            seen.add(key)
            out.append(Sentence(text, h.start + s, h.start + e, h, float(ranks[n] if ranks else n)))
    return out


def terms_before(text: str, c: Sentence, ending: dict, terms: Sequence[set[str]],
                 lexical) -> set[str]:
    """The words of the sentence just before ``c`` in its article's ``text``.

    Mostly that sentence is a candidate too (``ending`` finds it by where it ends), so
    its words are already stemmed; otherwise up to 400 characters of it are read.
    """
    end = c.start
    while end > 0 and text[end - 1].isspace():
        end -= 1
    if (j := ending.get((c.hit.source, end))) is not None:
        return terms[j]
    window = text[max(0, c.start - 400) : c.start]
    spans = split_sentences(window)
    prev = window[spans[-1][0] : spans[-1][1]] if spans else ""
    return set(lexical.stems(prev)) if lexical is not None else stems(prev)


@functools.lru_cache(maxsize=1)
def stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def stems(text: str) -> set[str]:
    return set(stemmer().stemWords(content_words(text)))


@functools.lru_cache(maxsize=8)
def vector_cache(_embedder_id: int) -> dict[str, np.ndarray]:
    return {}


def encode(idx: Index, texts: list[str]) -> np.ndarray:
    """Sentence vectors, remembered across questions (the same passages come back often).

    Each sentence gets the same vector whichever question asks, so the same question
    gets the same answer: an encoder whose vectors depend on the batch (int8) encodes
    each sentence alone.
    """
    cache = vector_cache(id(idx.embedder))
    missing = [t for t in dict.fromkeys(texts) if t not in cache]
    if missing:
        batch = 64 if getattr(idx.embedder, "batch_invariant", True) else 1
        for t, v in zip(missing, idx.embedder.encode(missing, batch_size=batch)):
            cache[t] = v
        while len(cache) > VECTOR_CACHE:
            cache.pop(next(iter(cache)))
    return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, idx.embedder.dimension), np.float32)
