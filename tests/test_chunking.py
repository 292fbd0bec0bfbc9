"""Chunker invariants, as properties: offsets reproduce the text; no chunk exceeds the model's limit."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import Article, ChunkingConfig, HashEmbedder, chunk_article
from rag.chunking import split_sentences

WORDS = st.sampled_from(
    "the gun Baldwin said “cold” Mr. Halls U.S. rehearsal 2021. ‘Rust’ — armpit! why? antidisestablishmentarianism "
    "supercalifragilisticexpialidocious ... 45 minutes a.m. Dr. Souza \n\n".split(" ")
)
TEXTS = st.lists(st.one_of(WORDS, st.text(min_size=1, max_size=12)), min_size=1, max_size=400).map(" ".join)


def _article(text: str) -> Article:
    return Article("x", "x.txt", "title", dt.date(2021, 12, 2), text)


def _check(text: str, embedder, max_tokens: int, overlap: int) -> None:
    a = _article(text)
    chunks = chunk_article(a, embedder, ChunkingConfig(max_tokens, overlap))
    for c in chunks:
        assert a.text[c.start : c.end] == c.text
        assert c.text.strip() == c.text and c.text
        assert embedder.count_tokens([c.text])[0] <= min(max_tokens, embedder.max_tokens)
        assert (c.source, c.date, c.article_id) == ("x.txt", dt.date(2021, 12, 2), "x")
    # every non-space character of the article is in some chunk, and chunks move forward
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(a.text) if not ch.isspace())
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    assert len({c.start for c in chunks}) == len(chunks)


@given(TEXTS, st.integers(8, 64), st.integers(0, 16))
@settings(max_examples=200, deadline=None)
def test_hash_tokenizer_offsets_and_limit(text, max_tokens, overlap):
    _check(text, HashEmbedder(max_tokens=64), max_tokens, overlap)


@given(TEXTS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_real_tokenizer_offsets_and_limit(real_embedder, text):
    """The model's own word pieces, special tokens included, never exceed 256 (tiny limit to force splits too)."""
    _check(text, real_embedder, 256, 32)
    _check(text, real_embedder, 40, 8)


def test_seed_chunks_fit_the_model_and_overlap_a_little(real_embedder):
    """Neighbours repeat whole trailing sentences worth at most 48 word pieces, when one is that short."""
    from rag import load_corpus
    from tests.conftest import SEEDS

    overlapping = 0
    for a in load_corpus([SEEDS]).articles:
        chunks = chunk_article(a, real_embedder, ChunkingConfig(256, 48))
        assert len(chunks) >= 2
        assert max(real_embedder.count_tokens([c.text for c in chunks])) <= 256
        for prev, nxt in zip(chunks, chunks[1:]):
            if nxt.start < prev.end:
                overlapping += 1
                shared = a.text[nxt.start : prev.end]
                assert real_embedder.count_tokens([shared])[0] - 2 <= 48
            else:
                last = [a.text[s:e] for s, e in split_sentences(prev.text)][-1]
                assert real_embedder.count_tokens([last])[0] - 2 > 48
    assert overlapping >= 8


def test_sentences_respect_abbreviations_and_quotes():
    text = "Mr. Halls said “this is a cold gun.” Then Dr. Souza fell. The U.S. Army? No.\nNew paragraph"
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == [
        "Mr. Halls said “this is a cold gun.”",
        "Then Dr. Souza fell.",
        "The U.S. Army?",
        "No.",
        "New paragraph",
    ]
