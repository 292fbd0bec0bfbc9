"""Chunking: split articles into sentence-aligned passages that fit the embedder whole.

Every chunk keeps its provenance (article id, source, date, title) and its
character offsets, with ``article.text[chunk.start:chunk.end] == chunk.text``.
Token counts come from the embedder's own tokenizer, special tokens included,
so the model never silently truncates a passage.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .corpus import Article
from .embedding import Embedder

__all__ = ["Chunk", "ChunkingConfig", "chunk_article", "chunk_articles", "split_sentences"]


@dataclass(frozen=True)
class Chunk:
    """A passage of an article, with where and when it comes from."""

    article_id: str
    source: str
    date: dt.date | None
    title: str
    start: int
    end: int
    text: str
    position: int  # index of the chunk within its article


@dataclass(frozen=True)
class ChunkingConfig:
    """How articles are cut; stored in the index manifest so a change forces re-chunking."""

    max_tokens: int  # per chunk, special tokens included
    overlap_tokens: int = 48

    def to_dict(self) -> dict:
        return {"max_tokens": self.max_tokens, "overlap_tokens": self.overlap_tokens}


# A sentence ends at . ! ? or … (plus closing quotes/brackets) before whitespace and a
# capital, digit or opening quote; or at a line break. Abbreviations are checked below.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])|\n")
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Gen|Gov|Sen|Rep|Lt|Col|Capt|Sgt|Inc|Ltd|Co|Corp|vs|etc|No|Jan|Feb|"
    r"Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|U\.S|U\.K|a\.m|p\.m|e\.g|i\.e)|\b[A-Z])\.$"
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of ``text``, whitespace trimmed, in order."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if m.group() != "\n" and _ABBREV.search(text[max(start, end - 8) : end]):
            continue
        _add_span(text, start, end, spans)
        start = end
    _add_span(text, start, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    seg = text[start:end]
    stripped = seg.strip()
    if stripped:
        s = start + (len(seg) - len(seg.lstrip()))
        spans.append((s, s + len(stripped)))


def _split_long(text: str, span: tuple[int, int], limit: int, embedder: Embedder) -> list[tuple[int, int]]:
    """Cut a sentence longer than ``limit`` word pieces at word boundaries."""
    s, e = span
    piece = text[s:e]
    ends = embedder.token_ends(piece)
    if not ends:
        return [span]
    ends[-1] = len(piece)  # characters with no word piece of their own (control bytes) stay with the last part
    out = []
    lo = 0  # char offset in piece where the current part starts
    i = 0  # index of the first token of the current part
    while i < len(ends):
        j = min(i + limit, len(ends))
        if j < len(ends):
            # back off to a token that ends before whitespace, so no word is split
            k = j
            while k > i + 1 and not piece[ends[k - 1] : ends[k - 1] + 1].isspace():
                k -= 1
            j = k if k > i + 1 else j
        hi = ends[j - 1]
        seg = piece[lo:hi]
        if seg.strip():
            a = lo + (len(seg) - len(seg.lstrip()))
            out.append((s + a, s + a + len(seg.strip())))
        lo, i = hi, j
    return out


def _pack(counts: Sequence[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy [i, j) sentence ranges within ``budget``, repeating up to ``overlap`` tokens."""
    ranges: list[tuple[int, int]] = []
    n, i = len(counts), 0
    while i < n:
        j, used = i, 0
        while j < n and used + counts[j] <= budget:
            used += counts[j]
            j += 1
        j = max(j, i + 1)
        ranges.append((i, j))
        if j >= n:
            break
        k, ov = j, 0
        while k - 1 > i and ov + counts[k - 1] <= overlap:
            ov += counts[k - 1]
            k -= 1
        # keep the overlap only if the next sentence still fits beside it
        i = k if ov + counts[j] <= budget else j
    return ranges


def chunk_article(article: Article, embedder: Embedder, config: ChunkingConfig) -> list[Chunk]:
    """Sentence-packed chunks of ``article``, each within ``config.max_tokens`` word pieces."""
    return chunk_articles([article], embedder, config)[0]


def chunk_articles(articles: Sequence[Article], embedder: Embedder, config: ChunkingConfig) -> list[list[Chunk]]:
    """Chunk many articles, counting tokens in one batch per stage (fast tokenizers like batches)."""
    special = embedder.count_tokens([""])[0]
    limit = max(1, min(config.max_tokens, embedder.max_tokens) - special)
    spans_per: list[list[tuple[int, int]]] = [split_sentences(a.text) for a in articles]
    flat = [a.text[s:e] for a, spans in zip(articles, spans_per) for s, e in spans]
    counts_flat = [c - special for c in embedder.count_tokens(flat)]
    out: list[list[Chunk]] = []
    pos = 0
    for a, spans in zip(articles, spans_per):
        counts = counts_flat[pos : pos + len(spans)]
        pos += len(spans)
        sents: list[tuple[int, int]] = []
        sent_counts: list[int] = []
        for span, c in zip(spans, counts):
            if c <= limit:
                sents.append(span)
                sent_counts.append(c)
            else:
                parts = _split_long(a.text, span, limit, embedder)
                sents.extend(parts)
                sent_counts.extend(c - special for c in embedder.count_tokens([a.text[s:e] for s, e in parts]))
        ranges = _pack(sent_counts, limit, config.overlap_tokens)
        ranges = _enforce_limit(a.text, sents, ranges, limit + special, embedder)
        out.append(
            [
                Chunk(a.id, a.source, a.date, a.title, sents[i][0], sents[j - 1][1], a.text[sents[i][0] : sents[j - 1][1]], n)
                for n, (i, j) in enumerate(ranges)
            ]
        )
    return out


def _enforce_limit(text, sents, ranges, max_total, embedder) -> list[tuple[int, int]]:
    """Re-count each packed chunk and halve any that overflow.

    Word-piece counts add up across whitespace for BERT-style tokenizers, so this
    rarely splits anything; it makes the limit hold for any tokenizer.
    """
    counts = embedder.count_tokens([text[sents[i][0] : sents[j - 1][1]] for i, j in ranges])
    out: list[tuple[int, int]] = []
    for (i, j), c in zip(ranges, counts):
        if c <= max_total or j - i == 1:
            out.append((i, j))
        else:
            mid = (i + j) // 2
            out.extend(_enforce_limit(text, sents, [(i, mid), (mid, j)], max_total, embedder))
    return out
