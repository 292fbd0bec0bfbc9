"""The reader's features: what a sentence is scored on (fast, with the hash embedder)."""

from __future__ import annotations

from rag import Index, Settings
from rag.analysis import analyse_question
from rag.answering import gather
from rag.indexing import index_corpus
from rag.reader import Reader
from rag.sentences import candidates, stems


def test_a_sentence_that_refers_back_knows_what_the_sentence_before_named(tmp_path, hash_embedder):
    """ "... cinematographer Halyna Hutchins. The 42-year-old was shot ..." answers how old Hutchins was,
    though the answer's own sentence never names her: the reader sees the name one sentence back."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        " date 2021-10-23 Shooting on a film set\n"
        "A cinematographer, Halyna Hutchins, died on the set of a western in New Mexico. "
        "The 42-year-old was shot during a rehearsal of a scene. "
        "Police are now questioning the armourer and the assistant director.\n", encoding="utf-8")
    (corpus / "b.txt").write_text(
        " date 2021-10-24 Safety on sets\n"
        "Unions have asked studios to stop using real guns on sets. Several productions have already agreed.\n",
        encoding="utf-8")
    root = tmp_path / "index"
    index_corpus([corpus], settings=Settings(index=root), embedder=hash_embedder)
    idx = Index.open(root, embedder=hash_embedder, settings=Settings(index=root))
    q = analyse_question("How old was Halyna Hutchins?", articles=idx.articles, stems=stems)
    hits, ranks, _ = gather(idx, q)
    cands = candidates(hits, ranks)
    f = Reader.cheap_features(idx, q, cands)
    at = {c.text.split()[0]: i for i, c in enumerate(cands)}
    age, police, first = at["The"], at["Police"], at["A"]
    assert f["prev_only"][age] > f["prev_only"][police] > 0  # the name one sentence back; only "old" for police
    assert f["prev_overlap"][first] == 0  # what comes before it (the headline) names nothing asked about
    assert f["anaphor"][age] == 1 and f["anaphor"][police] == 0
