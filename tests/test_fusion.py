"""Ranking: RRF fusion, fair merging, the per-article cap, and the whole pipeline on a hand-made index.

The index here has one-chunk articles whose dense vectors are fixed by hand
(``TableEmbedder``), so every ranking below can be worked out on paper.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from rag import Article, ChunkingConfig, Corpus, Settings, Store
from rag.fusion import Tuning, cap_per_article, merge_fairly, rrf
from rag.retrieval import Index
from rag.faisswrite import build_index


def test_rrf_sums_weighted_reciprocal_ranks():
    fused = rrf([[1, 2, 3], [3, 1]], weights=[1.0, 2.0], k0=10)
    # 1: 1/11 + 2/12;  2: 1/12;  3: 1/13 + 2/11
    assert fused == pytest.approx({1: 1 / 11 + 2 / 12, 2: 1 / 12, 3: 1 / 13 + 2 / 11})
    assert sorted(fused, key=lambda i: -fused[i]) == [3, 1, 2]


def test_cap_per_article_keeps_order():
    article_of = np.array([0, 0, 0, 1, 1, 2])
    assert cap_per_article([0, 1, 3, 2, 4, 5], article_of, 2) == [0, 1, 3, 4, 5]
    assert cap_per_article([2, 1, 0, 5, 3], article_of, 1) == [2, 5, 3]


def test_merge_fairly_takes_turns_then_fills_from_the_rest():
    assert merge_fairly([[1, 2, 3], [4, 1, 5]], rest=[9, 5, 8], quota=2) == [1, 4, 2, 5, 9, 8, 3]
    assert merge_fairly([[1], [2, 3, 4]], rest=[7], quota=2) == [1, 2, 3, 7, 4]  # a short part gives up its turn
    assert merge_fairly([], rest=[3, 1], quota=3) == [3, 1]


class TableEmbedder:
    """Vectors fixed by hand for known texts; anything else points along the last axis."""

    name, dimension, max_tokens = "table-embedder", 4, 64

    def __init__(self, table: dict[str, list[float]]):
        self.table = {t: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for t, v in table.items()}

    def count_tokens(self, texts):
        return [len(t.split()) + 2 for t in texts]

    def token_ends(self, text):
        ends, pos = [], 0
        for w in text.split():
            pos = text.index(w, pos) + len(w)
            ends.append(pos)
        return ends

    def encode(self, texts, *, batch_size=32, progress=False):
        other = np.array([0, 0, 0, 1], dtype=np.float32)
        return np.stack([self.table.get(t, other) for t in texts]) if texts else np.zeros((0, 4), np.float32)


TEXTS = {  # source: (publisher, date, text, dense vector)
    "a.txt": ("Daily Planet", dt.date(2023, 10, 1), "apples and bananas in the market", [0.9, 0.1, 0, 0]),
    "b.txt": ("Daily Planet", dt.date(2023, 10, 2), "apples and cherries in the market", [0.8, 0.2, 0, 0]),
    "c.txt": ("Gotham Gazette", dt.date(2023, 10, 3), "durian season opens", [1.0, 0, 0, 0]),
    "d.txt": ("Gotham Gazette", dt.date(2023, 10, 4), "bananas bananas bananas everywhere", [0.1, 1.0, 0, 0]),
}
# Textbook RRF, so the arithmetic in the comments below holds; sentence matching is tested on its own.
PLAIN = Tuning(k0=60, dense_weight=1.0, lexical_weight=1.0, lead=0)
QUERY = "Where are bananas sold?"
APPLES = "Which apples are in the market, per the Gotham Gazette?"


@pytest.fixture
def tiny(tmp_path):
    articles = tuple(Article(src[0] * 8, src, f"Report {src[0]}", day, text, publisher=pub)
                     for src, (pub, day, text, _) in TEXTS.items())
    table = {text: vec for _, _, text, vec in TEXTS.values()}
    table[QUERY] = [1.0, 0.05, 0, 0]
    table[APPLES] = [0.85, 0.15, 0, 0]
    emb = TableEmbedder(table)
    build_index(Corpus(articles), tmp_path, emb, ChunkingConfig(64, 0))
    store = Store.open(tmp_path)

    def index(tuning: Tuning = PLAIN, **switches) -> Index:
        switches.setdefault("sentences", False)
        return Index(store, emb, Settings(index=tmp_path, **switches), tuning=tuning)

    return index


def _order(hits):
    return [h.source for h in hits]


def test_dense_and_bm25_alone(tiny):
    # dense: cosine with (1, .05): c 1.0, a .99+, b .97+, d .15
    assert _order(tiny(lexical=False, metadata=False, coverage=False).search(QUERY, k=4)) == \
        ["c.txt", "a.txt", "b.txt", "d.txt"]
    # BM25 ("banana" is the only indexed query word): d says it three times, a once; b and c not at all
    assert _order(tiny(dense=False, metadata=False, coverage=False).search(QUERY, k=4)) == ["d.txt", "a.txt"]


def test_hybrid_is_weighted_rrf(tiny):
    # k0=60: a 1/62 + 1/62 = .03226; d 1/64 + 1/61 = .03202; c 1/61 = .01639; b 1/63 = .01587
    hits = tiny(metadata=False, coverage=False).search(QUERY, k=4)
    assert _order(hits) == ["a.txt", "d.txt", "c.txt", "b.txt"]
    assert [h.score for h in hits] == pytest.approx([2 / 62, 1 / 64 + 1 / 61, 1 / 61, 1 / 63])
    # doubling BM25: d 1/64 + 2/61 = .04842 overtakes a 1/62 + 2/62 = .04839
    heavy = tiny(dataclasses.replace(PLAIN, lexical_weight=2.0), metadata=False, coverage=False)
    assert _order(heavy.search(QUERY, k=2)) == ["d.txt", "a.txt"]


def test_a_named_publisher_raises_its_articles(tiny):
    plain = tiny(metadata=False, coverage=False).search(APPLES, k=4)
    named = tiny(coverage=False).search(APPLES, k=4)
    assert _order(plain)[:2] == ["a.txt", "b.txt"]  # apples, market: the Daily Planet's two
    assert sorted(_order(named)[:2]) == ["c.txt", "d.txt"]  # both Gotham Gazette articles lead


def test_a_named_date_raises_its_articles(tiny):
    q = "Where are bananas sold, as reported on October 2, 2023?"
    assert _order(tiny(coverage=False).search(q, k=1)) == ["b.txt"]


def test_each_named_publisher_gets_a_place(tiny):
    q = "Did the Daily Planet on October 2, 2023 and the Gotham Gazette on October 3, 2023 agree on apples?"
    top2 = _order(tiny().search(q, k=2))
    assert sorted(top2) == ["b.txt", "c.txt"]


def test_the_per_article_cap_holds_in_search(tmp_path, hash_embedder):
    long = " ".join(f"Bananas ripen on day {n} of the harvest." for n in range(40))
    articles = (Article("long" * 4, "long.txt", "Harvest diary", None, long),
                Article("short" * 3, "short.txt", "Market", None, "Bananas are sold in the market."))
    build_index(Corpus(articles), tmp_path, hash_embedder, ChunkingConfig(32, 0))
    store = Store.open(tmp_path)
    assert sum(store.article(i).source == "long.txt" for i in range(len(store))) > 4
    for cap in (1, 2, 3):
        hits = Index(store, hash_embedder, Settings(index=tmp_path, per_article=cap)).search("bananas harvest", k=5)
        assert sum(h.source == "long.txt" for h in hits) == cap
        assert "short.txt" in _order(hits)


# -- sentence matching ------------------------------------------------------------------------------
def _lexical(texts):
    from rag.lexical import LexicalIndex

    return LexicalIndex.build(texts, [Article("x", "x.txt", "", None, t) for t in texts])


def test_sentence_match_scores_the_best_sentence_by_idf():
    texts = ["Wembanyama was drafted first. The odds moved.",  # both words, in different sentences
             "The odds on Wembanyama moved overnight.",  # both words in one sentence
             "Rain fell all day.", "Nobody moved."]
    lex = _lexical(texts)
    scores, ids = lex.sentence_match("Wembanyama odds", np.arange(4))
    idf = np.log(1 + (4 - 2 + 0.5) / (2 + 0.5))  # each word is in 2 of the 4 chunks
    assert ids.tolist() == [1, 0]
    assert scores == pytest.approx([2 * idf, idf])
    # chunk-level BM25 cannot tell them apart this well: both chunks hold both words
    bm25, _ = lex.search("Wembanyama odds", 4)
    assert bm25[0] == pytest.approx(bm25[1], rel=0.2)


def test_best_sentence_equals_brute_force():
    from rag.chunking import split_sentences
    from rag.lexical import _words

    rng = np.random.default_rng(3)
    vocab = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    texts = [". ".join(" ".join(rng.choice(vocab, rng.integers(1, 6))).capitalize()
                       for _ in range(rng.integers(1, 5))) + "." for _ in range(30)]
    lex = _lexical(texts)
    stem = lex._stemmer
    for query in ("alpha delta", "golf hotel echo", "bravo", "zulu"):
        terms = set(_words([query], stem)[0])
        df = {w: sum(w in set(_words([t], stem)[0]) for t in texts) for w in terms}
        idf = {w: np.log(1 + (len(texts) - df[w] + 0.5) / (df[w] + 0.5)) for w in terms if df[w]}
        chunks = rng.choice(len(texts), 12, replace=False)
        expected = [max(sum(idf.get(w, 0.0) for w in set(_words([texts[c][s:e]], stem)[0]) & terms)
                        for s, e in split_sentences(texts[c])) for c in chunks]
        got = lex._sentences.best_sentence(list(lex.terms(query)), chunks)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_query_words_are_the_words_bm25s_indexes():
    import bm25s
    from rag.lexical import _stemmer, _words

    texts = ["The Verge's 2,000-yard Hill; U.S. odds, e-mail & naïve café!", "It's a 9:35 p.m. kickoff -- isn't it?"]
    stem = _stemmer()
    assert _words(texts, stem) == bm25s.tokenize(texts, stopwords="en", stemmer=stem, return_ids=False,
                                                 show_progress=False)


def test_sentences_survive_save_and_load(tmp_path):
    from rag.lexical import LexicalIndex

    lex = _lexical(["Odds moved. Wembanyama was drafted.", "Rain fell."])
    lex.save(tmp_path / "bm25")
    again = LexicalIndex.load(tmp_path / "bm25")
    assert again.has_sentences
    for a, b in zip(lex.sentence_match("Wembanyama rain", np.arange(2)), again.sentence_match("Wembanyama rain", np.arange(2))):
        np.testing.assert_array_equal(a, b)


def test_every_part_search_keeps_to_the_callers_date_filter(tiny):
    # the Gotham Gazette's two articles are from October 3 and 4: none of the named publisher's is allowed,
    # so its clause searches fall back to the allowed chunks rather than to the whole index
    q = "Did the Gotham Gazette report on bananas everywhere, and on the durian season opening?"
    hits = tiny(Tuning()).search(q, k=4, until="2023-10-02")
    assert sorted(_order(hits)) == ["a.txt", "b.txt"]
