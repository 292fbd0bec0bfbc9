"""Reader: score each sentence of the retrieved passages by how likely it states the answer, with a learned model.

Nothing here is tuned by hand. Each candidate sentence gets a vector of features
(MiniLM similarity to the question, rarity-weighted word overlap, whether it names
the kind of thing asked for, whether it only restates the question, where it sits,
how its passage ranked, ...); small models fit by ``bench/train_reader.py`` on
MultiHop-RAG's labelled evidence sentences turn those into probabilities:

- ``prefilter`` (cheap features only) keeps the sentences worth embedding;
- ``sentence`` scores them;
- ``span`` finds the short answer (a name, number, date or place) inside them;
- ``refusal`` judges whether the evidence holds what the question hinges on.

The weights ship in ``rag/models/reader.json`` with the data, split and figures
they were chosen on; evaluating them needs only NumPy (``rag/mlp.py``). The
sentences themselves are ``rag/sentences.py``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .analysis import STOP, WORD, Question, content_words
from .cache import per_store
from .mlp import Model
from .retrieval import Hit, Index
from .sentences import Evidence, Sentence, Span, encode, stemmer, stems, terms_before

__all__ = ["Reader", "MODEL_PATH"]

MODEL_PATH = Path(__file__).parent / "models" / "reader.json"
TYPES = ("person", "time", "place", "quantity", "entity", "yesno", "description")
_NAME = re.compile(r"\b[A-Z][\w’'.&-]*(?:\s+(?:of\s+|de\s+|van\s+|al-)?[A-Z][\w’'.&-]*)*")
_NUMBER = re.compile(
    r"(?:[$€£]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|hundred|k\b|m\b|bn\b))?"
    r"(?:\s+(?!and\b|the\b|of\b|in\b|on\b|to\b|a\b)[a-z]+)?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|dozen|dozens|hundreds|thousands|millions)\b(?:\s+[a-z]+)?",
)
_DATE = re.compile(
    r"\b(?:(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?(?:\s+\d{1,2}(?:st|nd|rd|th)?)?(?:,?\s+\d{4})?"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:January|February|March|April|May|June|July|August|September|October|"
    r"November|December)(?:\s+\d{4})?|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|"
    r"(?:19|20)\d\d|(?:last|next|this)\s+(?:week|month|year)|yesterday|today)\b"
)
_PLACE = re.compile(r"\b(?:in|at|near|from|outside|inside|across)\s+(?:the\s+)?([A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*)*)")
_HEDGE = re.compile(
    r"\b(?:did not|didn['’]t|does not|doesn['’]t|would not|wouldn['’]t|declined to|refused to|could not|couldn['’]t)"
    r"\s+(?:confirm|say|know|reveal|disclose|comment|specify)|\bunclear\b|\bwhether\b|\bunconfirmed\b",
    re.IGNORECASE,
)
_I = re.compile(r"I(?:[’'](?:m|ve|d|ll))?")
#: Words that open a sentence about something an earlier sentence named: "She ...", "The 42-year-old ...".
_ANAPHORS = frozenset("he she it they his her its their this that these those the such both".split())
_STARTERS = frozenset("the a an he she it they we i but and so in on at this that these those his her their its "
                      "when while after before as if there here what who how why where mr mrs ms dr".split())



def _kinds(text: str, q_names: set[str], common: frozenset[str] | set[str] = frozenset()) -> dict[str, list[tuple[int, int]]]:
    """Spans of ``text`` that could answer: names not in the question, numbers, dates, places.

    A capitalised word opening the sentence is a name only if the passages never
    use it in lower case (``common``): "Back then ..." is not a name, "Caesars ..." is.
    """
    names = []
    for m in _NAME.finditer(text):
        s, e = m.span()
        words = m.group().split()
        if s == 0 or text[max(0, s - 2) : s].strip() in (".", "“", '"', "‘", "'", "—", "-"):
            first = words[0].lower().strip("’'")
            if first in _STARTERS or first in common:  # "The", "He", "Back" opening a sentence
                if len(words) == 1:
                    continue
                s += len(words[0]) + 1
                words = words[1:]
        if _I.fullmatch(words[0]):  # "I", "I’m", "I’ve" ("But I’m ..."): the speaker, never the answer's name
            if len(words) == 1:
                continue
            s += len(words[0]) + 1
        if text[e - 1 : e] == "." and "." not in text[s : e - 1]:  # "said Sam Bankman-Fried." ends a sentence
            e -= 1
        for suffix in ("’s", "'s"):  # "Bankman-Fried’s trading firm": the name is Bankman-Fried
            if text[s:e].endswith(suffix):
                e -= len(suffix)
        if e <= s or text[s:e].lower() in q_names or text[s:e].lower() in STOP or _DATE.fullmatch(text[s:e]):
            continue
        names.append((s, e))
    return {
        "name": names,
        "number": [m.span() for m in _NUMBER.finditer(text)],
        "date": [m.span() for m in _DATE.finditer(text)],
        "place": [m.span(1) for m in _PLACE.finditer(text) if m.group(1).lower() not in q_names],
    }


_LOWER = re.compile(r"\b[a-z][a-z’']+\b")
@per_store
def archive_words(store) -> frozenset[str]:
    """Words some article of the archive writes in lower case: ordinary words, never names (once per generation)."""
    return frozenset(w for a in store.articles for w in _LOWER.findall(a.text))


def common_words(texts: Sequence[str], archive: frozenset[str] = frozenset()) -> set[str]:
    """Ordinary words, not names: those the archive or these passages use in lower case somewhere."""
    return set(archive) | {m.group() for t in texts for m in _LOWER.finditer(t)}


def _slot(text: str, spans: Sequence[tuple[int, int]], q_stems: set[str]) -> float:
    """How close the kind of thing asked for sits to the question's own words: 1 / (1 + words between).

    "Dave Halls handed him the gun" puts a name right beside "handed"; a sentence
    that only repeats the question's words has nothing of the kind near them.
    """
    if not spans:
        return 0.0
    words = [(m.start(), m.end(), stemmer().stemWord(m.group().lower())) for m in WORD.finditer(text)]
    anchors = [n for n, (_, _, st) in enumerate(words) if st in q_stems]
    if not anchors:
        return 0.0
    best = len(words)
    for s, e in spans:
        inside = [n for n, (a, b, _) in enumerate(words) if a >= s and b <= e]
        if not inside:
            continue
        lo, hi = inside[0], inside[-1]
        for n in anchors:
            if lo <= n <= hi:
                continue
            best = min(best, lo - n - 1 if n < lo else n - hi - 1)
    return 1.0 / (1.0 + best)


_MATCH = {"person": ("name",), "entity": ("name",), "time": ("date",), "place": ("place", "name"),
          "quantity": ("number",), "yesno": (), "description": ()}


def _rank_within(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return 1.0 / (1.0 + ranks)


def _by_article(sentences: Sequence[Sentence]) -> list[str]:
    """The text read of each retrieved article (its sentences joined)."""
    texts: dict[str, list[str]] = {}
    for c in sentences:
        texts.setdefault(c.hit.source, []).append(c.text)
    return [" ".join(t) for t in texts.values()]


def _spread(name: str, articles: Sequence[str]) -> tuple[int, int]:
    """In how many of ``articles`` ``name`` appears as whole words, and how often in all."""
    pattern = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])")
    counts = [len(pattern.findall(t)) for t in articles]
    return sum(c > 0 for c in counts), sum(counts)


class Reader:
    """The learned sentence, span and refusal models; ``Reader.load()`` reads the bundled weights."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.prefilter = Model(spec["prefilter"])
        self.sentence = Model(spec["sentence"])
        self.span = Model(spec["span"]) if spec.get("span") else None
        self.refusal = Model(spec["refusal"]) if spec.get("refusal") else None
        self.keep = int(spec.get("keep", 48))
        self.thresholds: dict[str, float] = dict(spec.get("thresholds", {}))

    @classmethod
    @functools.lru_cache(maxsize=4)
    def load(cls, path: Path | str = MODEL_PATH) -> Reader:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- features -----------------------------------------------------------------------------------
    @staticmethod
    def cheap_features(idx: Index, q: Question, cands: Sequence[Sentence]) -> dict[str, np.ndarray]:
        """Features that need no embedding: word overlap, names, position, passage rank, answer kinds."""
        lexical = idx.store.lexical
        q_idf, q_unknown = lexical.term_weights(q.search) if lexical is not None else ({}, [])
        if not q_idf:
            q_idf = {w: 1.0 for w in stems(q.search)}
        total = sum(q_idf.values()) or 1.0
        q_names = {n.lower() for n in q.names} | {w.lower() for n in q.names for w in n.split()}
        name_words = {w.lower() for n in q.names for w in n.split()}
        q_stems = stems(q.search)
        n = len(cands)
        f = {k: np.zeros(n) for k in (
            "rank", "passage_sim", "overlap", "local_overlap", "names", "novelty", "length", "position", "lede",
            "title", "question_mark", "quote", "hedge", "publisher", "boost_date", "has_name", "has_number",
            "has_date", "has_place", "type_match", "slot", "newest", "oldest", "order_date", "prev_overlap",
            "prev_only", "anaphor")}
        terms = [set(lexical.stems(c.text)) if lexical is not None else stems(c.text) for c in cands]
        common = common_words([c.text for c in cands], archive_words(idx.store))
        df = {w: sum(w in t for t in terms) for w in q_idf}
        local = {w: math.log((n + 1) / (df[w] + 1)) + 1 for w in q_idf}
        local_total = sum(local.values()) or 1.0
        texts = {src: a.text for src in dict.fromkeys(c.hit.source for c in cands)
                 if (a := idx.store.article_by_source(src)) is not None}
        lengths = {src: len(t) for src, t in texts.items()}
        ending = {(c.hit.source, c.end): j for j, c in enumerate(cands)}
        dates = [c.hit.date for c in cands if c.hit.date]
        lo, hi = (min(dates), max(dates)) if dates else (None, None)
        for i, (c, t) in enumerate(zip(cands, terms)):
            low = c.text.lower()
            words = WORD.findall(c.text)
            st = stems(c.text)
            kinds = _kinds(c.text, q_names, common)
            f["rank"][i] = 1.0 / (1.0 + c.rank)
            f["passage_sim"][i] = c.hit.similarity
            f["overlap"][i] = sum(v for w, v in q_idf.items() if w in t) / total
            f["local_overlap"][i] = sum(v for w, v in local.items() if w in t) / local_total
            f["names"][i] = (sum(w in low for w in name_words) / len(name_words)) if name_words else 0.0
            f["novelty"][i] = len(st - q_stems) / max(1, len(st))
            f["length"][i] = math.log1p(len(words))
            f["position"][i] = c.start / max(1, lengths.get(c.hit.source, c.end))
            f["lede"][i] = float(c.start < 400)
            # what an earlier sentence named, this one may only refer to: "... shooting of cinematographer
            # Halyna Hutchins. The 42-year-old was killed on October 21" answers how old Hutchins was
            before = terms_before(texts.get(c.hit.source, ""), c, ending, terms, lexical)
            f["prev_overlap"][i] = sum(v for w, v in q_idf.items() if w in before) / total
            f["prev_only"][i] = sum(v for w, v in q_idf.items() if w in before and w not in t) / total
            f["anaphor"][i] = float((words[0].lower() if words else "") in _ANAPHORS)
            f["title"][i] = float(c.start == 0 and c.text.strip() == c.hit.title.strip())
            f["question_mark"][i] = float(c.text.rstrip(" ”\"'’)").endswith("?"))
            f["quote"][i] = float(any(ch in c.text for ch in "“”\""))
            f["hedge"][i] = float(bool(_HEDGE.search(c.text)))
            f["publisher"][i] = float(bool(c.hit.publisher and c.hit.publisher in q.publishers))
            f["boost_date"][i] = float(bool(c.hit.date and any(
                (a is None or c.hit.date >= a) and (b is None or c.hit.date <= b) for a, b in q.boosts)))
            for k in ("name", "number", "date", "place"):
                f[f"has_{k}"][i] = float(bool(kinds[k]))
            f["type_match"][i] = float(any(kinds[k] for k in _MATCH[q.answer_type]))
            f["slot"][i] = _slot(c.text, [sp for k in _MATCH[q.answer_type] for sp in kinds[k]], q_stems)
            if c.hit.date and lo and hi and hi > lo:
                f["order_date"][i] = (c.hit.date - lo).days / (hi - lo).days
            f["newest"][i] = f["order_date"][i] if q.order == "newest" else 0.0
            f["oldest"][i] = (1 - f["order_date"][i]) if q.order == "oldest" else 0.0
        for t in TYPES:
            f[f"type_{t}"] = np.full(n, float(q.answer_type == t))
        # one feature for "asks for a name, date, number or place", whichever: MultiHop-RAG has almost no
        # when / where / how-many questions, so a model of each kind could not be fit; this one transfers
        f["wants_span"] = np.full(n, float(bool(_MATCH[q.answer_type])))
        f["compares"] = np.full(n, float(q.compares))
        f["q_length"] = np.full(n, math.log1p(len(content_words(q.search))))
        f["rel_overlap"] = f["overlap"] - (f["overlap"].max() if n else 0)
        return f

    @staticmethod
    def dense_features(f: dict[str, np.ndarray], dense: np.ndarray) -> dict[str, np.ndarray]:
        f = dict(f)
        f["dense"] = dense
        f["dense_rank"] = _rank_within(dense)
        f["rel_dense"] = dense - (dense.max() if len(dense) else 0)
        f["restates"] = dense * (1 - f["novelty"])
        return f

    # -- reading --------------------------------------------------------------------------------------
    def read(self, idx: Index, q: Question, cands: Sequence[Sentence], qvec: np.ndarray) -> list[Evidence]:
        """The candidates worth quoting, best first, each with its probability and best short answer."""
        if not cands:
            return []
        cheap = self.cheap_features(idx, q, cands)
        pre = self.prefilter(cheap)
        keep = np.argsort(-pre, kind="stable")[: self.keep]
        kept = [cands[i] for i in keep]
        f = {k: v[keep] for k, v in cheap.items()}
        dense = encode(idx, [c.text for c in kept]) @ qvec
        f = self.dense_features(f, dense)
        scores = self.sentence(f)
        order = np.argsort(-scores, kind="stable")
        ev = [Evidence(kept[i], float(scores[i]), float(dense[i]), None, bool(f["type_match"][i]) or not _MATCH[q.answer_type])
              for i in order]
        return self.find_spans(q, ev, common_words([c.text for c in cands], archive_words(idx.store)), cands)

    @staticmethod
    def span_features(q: Question, ev: Sequence[Evidence], top: int = 8, common: set[str] | None = None,
                      context: Sequence[Sentence] = ()) -> tuple[list[tuple[int, Span]], dict]:
        """Candidate short answers in the ``top`` sentences, and their features.

        ``common`` are the ordinary words of every sentence read (see ``common_words``);
        ``context`` every sentence read, to count how many of the retrieved articles
        name a candidate: the thing a question is about is written of in several
        reports, a name in passing in one.
        """
        q_names = {n.lower() for n in q.names} | {w.lower() for n in q.names for w in n.split()}
        q_stems = stems(q.search)
        found: list[tuple[int, Span, float]] = []
        common = common if common is not None else common_words([e.sentence.text for e in ev])
        for i, e in enumerate(ev[:top]):
            text = e.sentence.text
            toks = [(m.start(), stemmer().stemWord(m.group().lower())) for m in WORD.finditer(text)]
            anchors = [p for p, s in toks if s in q_stems]
            for kind, spans in _kinds(text, q_names, common).items():
                for s, t in spans:
                    span_text = text[s:t].strip(" ,.;:")
                    if not span_text or span_text.lower() in q_names or stems(span_text) <= q_stems:
                        continue
                    near = min((abs(p - s) for p in anchors), default=len(text)) / max(1, len(text))
                    found.append((i, Span(span_text, e.sentence.start + s, e.sentence.start + s + len(span_text),
                                          kind, 0.0), near))
        if not found:
            return [], {}
        mass = sum(e.score for e in ev[:top]) or 1.0
        support: dict[str, float] = {}
        sources: dict[str, set[str]] = {}
        for i, sp, _ in found:
            key = sp.text.lower()
            support[key] = support.get(key, 0.0) + ev[i].score
            sources.setdefault(key, set()).add(ev[i].hit.source)
        articles = _by_article(context or [e.sentence for e in ev])
        spread = {key: _spread(sp.text, articles) for key, sp in {sp.text.lower(): sp for _, sp, _ in found}.items()}
        n = len(found)
        f = {k: np.zeros(n) for k in ("sentence_score", "sentence_rank", "support", "articles", "near", "words",
                                      "kind_name", "kind_number", "kind_date", "kind_place", "kind_match",
                                      "spread", "spread_share", "mentions", "acronym")}
        for j, (i, sp, near) in enumerate(found):
            f["sentence_score"][j] = ev[i].score
            f["sentence_rank"][j] = 1.0 / (1 + i)
            f["support"][j] = support[sp.text.lower()] / mass
            f["articles"][j] = math.log1p(len(sources[sp.text.lower()]))
            f["near"][j] = near
            f["words"][j] = math.log1p(len(sp.text.split()))
            f[f"kind_{sp.kind}"][j] = 1.0
            f["kind_match"][j] = float(sp.kind in _MATCH[q.answer_type])
            in_articles, mentions = spread[sp.text.lower()]
            f["spread"][j] = math.log1p(in_articles)
            f["spread_share"][j] = in_articles / max(1, len(articles))
            f["mentions"][j] = math.log1p(mentions)
            f["acronym"][j] = float(len(sp.text) > 1 and sp.text.isupper())  # "FTX", "SBF": rarely who was asked for
        f["asks_person"] = np.full(n, float(q.answer_type == "person"))
        for t in TYPES:
            f[f"type_{t}"] = np.full(n, float(q.answer_type == t))
        f["wants_span"] = np.full(n, float(bool(_MATCH[q.answer_type])))
        return [(i, sp) for i, sp, _ in found], f

    def find_spans(self, q: Question, ev: list[Evidence], common: set[str] | None = None,
                   context: Sequence[Sentence] = ()) -> list[Evidence]:
        """Attach to each sentence its best short answer, when the question asks for one."""
        if self.span is None or not _MATCH[q.answer_type] or not ev:
            return ev
        found, f = self.span_features(q, ev, common=common, context=context)
        if not found:
            return ev
        p = self.span(f)
        best: dict[int, Span] = {}
        for (i, sp), s in zip(found, p):
            if sp.kind not in _MATCH[q.answer_type]:
                continue  # a name never answers "how many", a number never "who"
            if i not in best or s > best[i].score:
                best[i] = Span(sp.text, sp.start, sp.end, sp.kind, float(s))
        return [Evidence(e.sentence, e.score, e.dense, best.get(i), e.fits) for i, e in enumerate(ev)]

    @staticmethod
    def refusal_features(idx: Index, q: Question, ev: Sequence[Evidence], hits: Sequence[Hit]) -> dict:
        """Question-level evidence: how well the best sentences answer, and whether the passages know the names.

        Only what was retrieved counts, never statistics of the whole archive, so
        the model carries from a five-article folder to a newsroom archive.
        """
        scores = sorted((e.score for e in ev), reverse=True) + [0.0, 0.0, 0.0]
        names = [n for n in q.names if n not in q.publishers]
        passages = " ".join(f"{h.title} {h.publisher or ''} {h.text}" for h in hits).lower()
        missing = sum(not all(w.lower() in passages for w in n.split() if w.lower() not in STOP) for n in names)
        # the words that only date the question ("the article published on December 2, 2021") are
        # handled by the window and the boosts: a sentence need not repeat them to answer
        q_stems = stems(q.topic) or stems(q.search)
        covered = max((len(q_stems & stems(e.sentence.text)) / max(1, len(q_stems)) for e in ev[:8]), default=0.0)
        f = {
            "best": scores[0], "second": scores[1], "top3": sum(scores[:3]) / 3,
            "dense": max((e.dense for e in ev), default=0.0),
            "passage_sim": max((h.similarity for h in hits), default=0.0),
            "names_missing": missing / len(names) if names else 0.0,
            "any_name_missing": float(missing > 0),
            "covered": covered,
            "best_span": max((e.span.score for e in ev[:8] if e.span), default=0.0),
            "q_length": math.log1p(len(content_words(q.search))), "n_names": math.log1p(len(names)),
            "compares": float(q.compares),
        }
        for t in TYPES:
            f[f"type_{t}"] = float(q.answer_type == t)
        f["wants_span"] = float(bool(_MATCH[q.answer_type]))
        return {k: np.asarray([v], dtype=np.float64) for k, v in f.items()}

    def refuse(self, idx: Index, q: Question, ev: Sequence[Evidence], hits: Sequence[Hit]) -> bool:
        """True when the evidence does not hold what the question hinges on."""
        if not ev:
            return True
        if self.refusal is None:
            return ev[0].score < self.thresholds.get("sentence", 0.5)
        p = float(self.refusal(self.refusal_features(idx, q, ev, hits))[0])
        return p < self.thresholds.get("refusal", 0.5)
