"""Store: the persisted index (FAISS vectors, chunk metadata, manifest), written atomically.

Layout of an index directory::

    CURRENT              name of the live generation, swapped with os.replace
    SOURCES              the corpus paths of the live generation, kept outside it so that
                         `rag index --rebuild` finds them even when the manifest is damaged
    gen-<stamp>/         one complete, immutable generation
        manifest.json    format, model, encoder, dimension, chunking, per-article hashes, file checksums
        articles.jsonl   every article: id, source, title, date (and where it came from), publisher, url, text
        chunks.npy       int64 rows (article row, start, end, position), one per vector
        index.faiss      the vectors (exact inner product, or HNSW above a size threshold)
        bm25/            the lexical index over the same chunks

A new generation is written beside the live one and only then named in
CURRENT, so a crash or a kill at any moment leaves the previous index whole
(``rag.faisswrite``). This module loads it, checking every file against the
manifest, and holds what both writers (FAISS and PostgreSQL) plan from;
``rag.manifest`` reads what the directory records without loading anything.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunking import Chunk
from .corpus import Article, Corpus
from .errors import IndexNotFound
from .manifest import _check_manifest, _corrupt, _own_paths, _sha256, check_model, current_generation
from .sources import UPLOADS_DIR, infer_origins

__all__ = ["Store", "IndexReport", "HNSW_M", "HNSW_EF_SEARCH", "UNDATED"]

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
#: ``chunk_dates()`` of an article without a publication date: below every real day, and never in a window.
UNDATED = np.iinfo(np.int64).min


@dataclass(frozen=True)
class IndexReport:
    """What one ``rag index`` run did."""

    index: str
    articles: int
    chunks: int
    embedded_chunks: int
    added: int
    updated: int
    removed: int
    unchanged: int
    skipped: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    kind: str = "exact"
    seconds: float = 0.0
    kept: int = 0  # articles not read this time (other paths, uploads, files gone) that stay in the index
    reasons: tuple[str, ...] = ()  # why articles were kept or removed, one line per group
    undated: int = 0  # articles in the index without a trustworthy publication date

    def to_dict(self) -> dict:
        return {
            "index": self.index, "articles": self.articles, "chunks": self.chunks,
            "embedded_chunks": self.embedded_chunks, "added": self.added, "updated": self.updated,
            "removed": self.removed, "unchanged": self.unchanged, "kept": self.kept, "reasons": list(self.reasons),
            "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
            "warnings": list(self.warnings), "kind": self.kind, "seconds": round(self.seconds, 3),
            "undated": self.undated,
        }


def _article_to_json(a: Article) -> str:
    d = {"id": a.id, "source": a.source, "title": a.title, "date": a.date.isoformat() if a.date else None,
         "publisher": a.publisher, "url": a.url, "author": a.author, "date_source": a.date_source,
         "date_confidence": a.date_confidence, "updated": a.updated.isoformat() if a.updated else None,
         "excerpt": a.excerpt, "text": a.text}
    return json.dumps(d, ensure_ascii=False)


def _article_from_json(d: dict) -> Article:
    """An article as stored; an index written before date_source, updated and excerpt existed lacks them."""
    return Article(d["id"], d["source"], d["title"], dt.date.fromisoformat(d["date"]) if d["date"] else None,
                   d["text"], publisher=d.get("publisher"), url=d.get("url"), author=d.get("author"),
                   date_source=d.get("date_source") or "", date_confidence=d.get("date_confidence") or "",
                   updated=dt.date.fromisoformat(d["updated"]) if d.get("updated") else None,
                   excerpt=bool(d.get("excerpt")))


def _faiss():
    import faiss  # imported late: it pulls in OpenMP, and `rag --help` should not pay for it

    return faiss


@dataclass
class Store:
    """A loaded, read-only index generation."""

    root: Path
    generation: Path
    manifest: dict
    articles: list[Article]
    rows: np.ndarray  # (n_chunks, 4) int64: article row, start, end, position
    index: object  # faiss.Index
    lexical: object | None = None  # rag.lexical.LexicalIndex, when built
    _by_id: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def kind(self) -> str:
        return self.manifest["index_kind"]

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @classmethod
    def open(cls, root: Path | str, *, model: str | None = None, dimension: int | None = None,
             encoder: str | None = None) -> Store:
        """Load the index at ``root``; refuse one built with a model other than ``model``, or by an
        encoder whose vectors differ from ``encoder``'s.

        Anything damaged (a file missing, truncated, out of step with the
        manifest, or a manifest with fields missing or of the wrong type) is
        IndexCorrupt naming the file and 'rag index --rebuild'.
        """
        root = Path(root)
        gen = current_generation(root)
        if gen is None:
            raise IndexNotFound(f"no index at {root}/: build one with 'rag index [PATH ...] --index {root}'")
        mpath = gen / "manifest.json"
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise _corrupt(mpath, "missing") from e
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise _corrupt(mpath, "not valid JSON (truncated or damaged)") from e
        except OSError as e:
            raise _corrupt(mpath, f"unreadable ({e.strerror or e})") from e
        _check_manifest(manifest, mpath)
        check_model(manifest, root, model, dimension, encoder)
        for name, meta in manifest["files"].items():
            p = gen / name
            if not p.is_file():
                raise _corrupt(p, "missing")
            if p.stat().st_size != meta["size"]:
                raise _corrupt(p, f"{p.stat().st_size} bytes where {meta['size']} were written (truncated?)")
            if _sha256(p) != meta["sha256"]:
                raise _corrupt(p, "damaged (its checksum does not match the manifest)")
        apath = gen / "articles.jsonl"
        try:
            with open(apath, encoding="utf-8") as f:
                articles = [_article_from_json(json.loads(line)) for line in f if line.strip()]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
            raise _corrupt(apath, f"unreadable ({type(e).__name__}: {str(e)[:120]})") from e
        try:
            rows = np.load(gen / "chunks.npy", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise _corrupt(gen / "chunks.npy", "unreadable") from e
        if not _rows_fit(rows, articles):
            raise _corrupt(gen / "chunks.npy", "out of step with articles.jsonl")
        try:
            index = _faiss().read_index(str(gen / "index.faiss"))
        except RuntimeError as e:
            raise _corrupt(gen / "index.faiss", "not a readable FAISS index") from e
        if index.ntotal != rows.shape[0] or index.d != manifest["dimension"]:
            raise _corrupt(gen / "index.faiss", "out of step with chunks.npy")
        if manifest["index_kind"] == "hnsw":
            if not hasattr(index, "hnsw"):
                raise _corrupt(gen / "index.faiss", "not the HNSW index the manifest names")
            index.hnsw.efSearch = HNSW_EF_SEARCH
        lexical = None
        if (gen / "bm25").is_dir():
            from .lexical import LexicalIndex

            try:
                lexical = LexicalIndex.load(gen / "bm25")
                fits = lexical.size == rows.shape[0]
            except Exception as e:  # bm25s raises whatever its loaders raise; the checksums passed, so: damaged
                raise _corrupt(gen / "bm25", f"not a readable BM25 index ({type(e).__name__})") from e
            if not fits:
                raise _corrupt(gen / "bm25", "out of step with chunks.npy")
        store = cls(root, gen, manifest, articles, rows, index, lexical)
        store._by_id = {a.source: i for i, a in enumerate(articles)}
        return store

    @property
    def location(self) -> Path:
        """Where the index is (``root``): what ``rag index --index`` names."""
        return self.root

    def stale(self) -> bool:
        """Whether another generation has been made live since this one was loaded."""
        gen = current_generation(self.root)
        return gen is not None and gen != self.generation

    def reopen(self, *, model: str | None = None, dimension: int | None = None, encoder: str | None = None) -> Store:
        """The generation live now, loaded with the same checks as ``open``."""
        return Store.open(self.root, model=model, dimension=dimension, encoder=encoder)

    def stats(self) -> dict:
        """Counts, model, index kind and the dates the articles span."""
        dates = [a.date for a in self.articles if a.date]
        return {
            "articles": len(self.articles), "chunks": len(self), "model": self.model, "kind": self.kind,
            "first_date": min(dates).isoformat() if dates else None,
            "last_date": max(dates).isoformat() if dates else None,
        }

    def origins(self) -> dict[str, str]:
        """The path each article came from, by source (``UPLOADS`` for uploaded ones)."""
        return _origins(self)

    def passages(self, ids: Sequence[int]) -> tuple[list[Chunk], list[Article], np.ndarray]:
        """Chunks ``ids``, their articles and their vectors ((len(ids), d) float32), in the order given."""
        ids = np.asarray(ids, dtype=np.int64)
        vecs = self.index.reconstruct_batch(ids) if len(ids) else np.zeros((0, self.index.d), dtype=np.float32)
        return [self.chunk(int(i)) for i in ids], [self.article(int(i)) for i in ids], vecs

    def chunk_ids(self, source: str) -> np.ndarray:
        """The chunk ids of the article cited as ``source``, in their order in the article."""
        i = self._by_id.get(source)
        if i is None:
            return np.zeros(0, dtype=np.int64)
        ids = np.flatnonzero(self.rows[:, 0] == i)
        return ids[np.argsort(self.rows[ids, 3], kind="stable")]

    def chunk(self, i: int) -> Chunk:
        ai, start, end, pos = (int(x) for x in self.rows[i])
        a = self.articles[ai]
        return Chunk(a.id, a.source, a.date, a.title, start, end, a.text[start:end], pos)

    def article(self, i: int) -> Article:
        """The article that chunk ``i`` comes from."""
        return self.articles[int(self.rows[i, 0])]

    def article_by_source(self, source: str) -> Article | None:
        i = self._by_id.get(source)
        return self.articles[i] if i is not None else None

    def chunk_dates(self) -> np.ndarray:
        """Publication date per chunk as days since 1970 (negative before it), ``UNDATED`` when unknown."""
        days = np.array([(a.date - dt.date(1970, 1, 1)).days if a.date else UNDATED for a in self.articles],
                        dtype=np.int64)
        return days[self.rows[:, 0]] if len(self.rows) else np.zeros(0, dtype=np.int64)

    def vectors(self) -> np.ndarray:
        """All stored vectors, (n, d) float32, in chunk order."""
        n = self.index.ntotal
        return self.index.reconstruct_n(0, n) if n else np.zeros((0, self.index.d), dtype=np.float32)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, chunk ids) by inner product, among ``allowed`` ids if given.

        The filter is applied inside the search, so ``k`` results come back
        whenever ``k`` allowed chunks exist.
        """
        faiss = _faiss()
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        n = self.index.ntotal
        k = min(k, n if allowed is None else len(allowed))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        if allowed is None:
            scores, ids = self.index.search(q, k)
        elif self.kind == "hnsw" and len(allowed) < max(1000, n // 50):
            # A narrow filter starves the HNSW graph walk; scoring the few allowed vectors is exact and cheap.
            vecs = self.index.reconstruct_batch(np.asarray(allowed, dtype=np.int64))
            s = vecs @ q[0]
            top = np.argsort(-s, kind="stable")[:k]
            return s[top].astype(np.float32), np.asarray(allowed, dtype=np.int64)[top]
        else:
            sel = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            if self.kind == "hnsw":
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, 2 * k))
            else:
                params = faiss.SearchParameters(sel=sel)
            scores, ids = self.index.search(q, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep].astype(np.int64)


def _rows_fit(rows: np.ndarray, articles: Sequence[Article]) -> bool:
    """True if every chunk row names an article and offsets inside its text."""
    if rows.ndim != 2 or rows.shape[1] != 4 or rows.dtype.kind not in "iu":
        return False
    if not len(rows):
        return True
    ai, start, end = rows[:, 0], rows[:, 1], rows[:, 2]
    if ai.min() < 0 or ai.max() >= len(articles):
        return False
    lengths = np.array([len(a.text) for a in articles], dtype=np.int64)[ai]
    return bool(((start >= 0) & (start <= end) & (end <= lengths)).all())


def _choose_kind(n: int, setting: str, threshold: int) -> str:
    if setting == "exact":
        return "flat"
    if setting == "approximate":
        return "hnsw"
    return "hnsw" if n > threshold else "flat"


def tally(before: Mapping[str, str], fresh: Sequence[Article]) -> tuple[list[Article], list[Article], list[Article]]:
    """The articles read this time that are unchanged, updated and added, given the indexed ``before``
    (source -> content id)."""
    unchanged = [a for a in fresh if before.get(a.source) == a.id]
    updated = [a for a in fresh if a.source in before and before[a.source] != a.id]
    added = [a for a in fresh if a.source not in before]
    return unchanged, updated, added


def build_inputs(corpus: Corpus, embed_text, origins: Mapping[str, str] | None,
                 read: Collection[str] | None) -> tuple[Callable, Mapping[str, str], set[str], list[str]]:
    """``build_index``'s optional arguments filled in (every store writes from the same): the text each
    chunk is embedded from, where each article came from, the origins read this run, the warnings so far."""
    origins = origins if origins is not None else {a.source: "" for a in corpus.articles}
    return (embed_text or (lambda c, a: c.text), origins,
            set(read) if read is not None else set(origins.values()), list(corpus.warnings))


def _origins(store: Store) -> dict[str, str]:
    """Where each article was read from: as the manifest records it, inferred for any article it does not
    (an older or damaged manifest); an entry naming no article of the index is no origin."""
    sources = {a.source for a in store.articles}
    recorded = {s: o for s, o in (store.manifest.get("origins") or {}).items() if s in sources}
    if len(recorded) == len(sources):
        return recorded
    paths = _own_paths(store.root, store.manifest.get("corpus_paths") or [])
    return {**infer_origins(store.articles, paths, store.root / UPLOADS_DIR), **recorded}


# Bumped when what is embedded for a chunk changes (e.g. headline added), forcing re-embedding.
_EMBED_FORMAT = 1


