"""Writing a FAISS index directory: a new generation beside the live one, then one atomic rename.

``build_index`` plans what to keep, embed and drop (the same plan ``rag.pgwrite`` follows
for PostgreSQL), reuses the vectors of unchanged articles, and writes every file of the
new generation (fsynced) before ``CURRENT`` names it, so a crash or a kill at any moment
leaves the previous index whole. The layout is described in ``rag.store``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from .chunking import Chunk, ChunkingConfig, chunk_articles
from .corpus import Article, Corpus
from .embed_jobs import encode_texts
from .embedding import Embedder
from .errors import IndexCorrupt, RagError
from .sources import plan
from .manifest import _CURRENT, _FILES, _SOURCES, FORMAT_VERSION, _fsync_dir, _sha256, check_model, current_generation
from .store import (
    _EMBED_FORMAT, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, IndexReport, Store, _article_to_json, _choose_kind,
    _faiss, build_inputs, tally,
)

__all__ = ["build_index", "make_faiss_index"]


@contextlib.contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    """One writer at a time per index directory; readers never wait."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise RagError(f"another 'rag index' is writing {root}/; wait for it to finish") from e
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def make_faiss_index(vectors: np.ndarray, kind: str):
    """A FAISS inner-product index over ``vectors`` (rows of unit length)."""
    faiss = _faiss()
    d = vectors.shape[1]
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(d)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def build_index(
    corpus: Corpus,
    root: Path | str,
    embedder: Embedder,
    chunking: ChunkingConfig,
    *,
    rebuild: bool = False,
    kind: str = "auto",
    approximate_threshold: int = 50_000,
    batch_size: int = 32,
    progress: bool = False,
    corpus_paths: Sequence[str] = (),
    embed_text: Callable[[Chunk, Article], str] | None = None,
    lexical: bool = True,
    origins: Mapping[str, str] | None = None,
    read: Collection[str] | None = None,
    missing: Collection[str] = (),
    prune: bool = False,
    drop: Collection[str] = (),
    ray: str | None = None,
) -> IndexReport:
    """Add and update the articles of ``corpus`` in the index at ``root``, embedding only what changed.

    ``origins`` names the path each article of ``corpus`` was read from (all
    ``""`` if not given) and ``read`` the origins read whole this time. Articles
    already indexed stay unless they are in ``drop``, or ``prune`` is set and
    they come neither from uploads nor from a ``missing`` path: removing is
    always asked for, and the report says why each group was kept or removed.
    Articles whose content hash and chunking are unchanged keep their vectors;
    ``rebuild`` embeds everything again (the old generation, when readable,
    still supplies the articles of paths that cannot be read any more). The
    result becomes live in one atomic step. ``ray`` runs the embedding as a
    Ray Data job (``rag.embed_jobs``) at that address; the vectors are the same.
    """
    t0 = time.perf_counter()
    root = Path(root)
    embed_text, origins, read, warnings = build_inputs(corpus, embed_text, origins, read)
    with _writer_lock(root):
        old, reuse = _previous(root, embedder, chunking, rebuild, warnings)
        old_origin = old.origins() if old is not None else {}
        old_by_source = {a.source: a for a in old.articles} if old is not None else {}

        merge = plan(old.articles if old is not None else (), old_origin, corpus.articles, origins, read=read,
                     missing=missing, prune=prune, drop=drop)
        warnings += merge.warnings
        kept, fresh = list(merge.kept), list(merge.fresh)
        before = {a.source: a.id for a in old.articles} if old is not None else {}
        unchanged, updated, added = tally(before, fresh)

        # articles whose vectors can be reused, in the old index's order, then those to embed
        old_rows: dict[str, list[int]] = {}
        if reuse:
            for ci, ai in enumerate(old.rows[:, 0]):
                old_rows.setdefault(old.articles[int(ai)].source, []).append(ci)
        final = kept + fresh
        reused = sorted((a for a in final if a.source in old_rows and old_by_source[a.source].id == a.id),
                        key=lambda a: old_rows[a.source][0])
        to_embed = [a for a in final if not (a.source in old_rows and old_by_source[a.source].id == a.id)]

        fresh_chunks = chunk_articles(to_embed, embedder, chunking)
        texts = [embed_text(c, a) for a, cs in zip(to_embed, fresh_chunks) for c in cs]
        new_vecs = encode_texts(embedder, texts, batch_size=batch_size, progress=progress, ray=ray)

        articles = reused + to_embed
        rows: list[tuple[int, int, int, int]] = []
        keep_ids: list[int] = []
        for ai, a in enumerate(reused):
            for ci in old_rows[a.source]:
                _, s, e, p = (int(x) for x in old.rows[ci])
                rows.append((ai, s, e, p))
                keep_ids.append(ci)
        for ai, cs in enumerate(fresh_chunks, start=len(reused)):
            rows.extend((ai, c.start, c.end, c.position) for c in cs)
        rows_arr = np.array(rows, dtype=np.int64).reshape(-1, 4)

        n = len(rows_arr)
        kind_now = _choose_kind(n, kind, approximate_threshold)
        unchanged_prefix = reuse and keep_ids == list(range(len(keep_ids))) and old.kind == kind_now
        if unchanged_prefix and len(keep_ids) == old.index.ntotal:
            index = old.index  # nothing dropped: extend the loaded index in place of rebuilding it
            if len(new_vecs):
                index.add(new_vecs)
        else:
            old_vecs = (old.index.reconstruct_batch(np.array(keep_ids, dtype=np.int64))
                        if keep_ids else np.zeros((0, embedder.dimension), dtype=np.float32))
            index = make_faiss_index(np.vstack([old_vecs, new_vecs]), kind_now)

        if not articles:
            warnings.append(f"the index at {root}/ holds no articles: searches find nothing and questions are "
                            f"answered 'the articles don't cover this' until articles are added")
        chunk_texts = [articles[r[0]].text[r[1] : r[2]] for r in rows]
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": embedder.name,
            "encoder": getattr(embedder, "encoder", None),
            "dimension": embedder.dimension,
            "chunking": chunking.to_dict(),
            "embed_format": _EMBED_FORMAT,
            "index_kind": kind_now,
            "corpus_paths": list(corpus_paths),
            "articles": {a.source: a.id for a in articles},
            "origins": {a.source: merge.origin_of[a.source] for a in articles},
            "counts": {"articles": len(articles), "chunks": n},
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with_lexical = lexical and n > 0  # bm25s cannot index nothing; an empty index searches densely
        _write_generation(root, manifest, articles, rows_arr, index, chunk_texts if with_lexical else None,
                          [articles[r[0]] for r in rows] if with_lexical else None)

    return IndexReport(
        index=str(root), articles=len(articles), chunks=n, embedded_chunks=len(texts),
        added=len(added), updated=len(updated), removed=merge.removed, unchanged=len(unchanged),
        skipped=corpus.skipped, warnings=tuple(warnings), kind=kind_now, seconds=time.perf_counter() - t0,
        kept=len(kept), reasons=merge.reasons,
        undated=sum(a.date is None for a in articles),
    )


def _previous(root: Path, embedder: Embedder, chunking: ChunkingConfig, rebuild: bool,
              warnings: list[str]) -> tuple[Store | None, bool]:
    """The live generation (None if there is none) and whether its vectors can be reused."""
    if not rebuild:
        if current_generation(root) is None:
            return None, False
        old = Store.open(root)
        check_model(old.manifest, root, embedder.name, embedder.dimension, getattr(embedder, "encoder", None))
        same = old.manifest["chunking"] == chunking.to_dict() and old.manifest.get("embed_format") == _EMBED_FORMAT
        return old, same
    try:  # a rebuild embeds everything, but the old articles are still the record of what the index holds
        return (Store.open(root) if current_generation(root) is not None else None), False
    except IndexCorrupt as e:
        damage = str(e).split("; rebuild", 1)[0]
        warnings.append(f"the previous index could not be read ({damage}): rebuilt from the paths it records, "
                        f"so articles from paths that no longer exist could not be kept")
        return None, False


def _write_generation(root, manifest, articles, rows, index, chunk_texts, chunk_articles_) -> None:
    faiss = _faiss()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    tmp = root / f".tmp-gen-{stamp}-{os.getpid()}"
    gen = root / f"gen-{stamp}"
    tmp.mkdir(parents=True)
    try:
        with open(tmp / "articles.jsonl", "w", encoding="utf-8") as f:
            for a in articles:
                f.write(_article_to_json(a) + "\n")
        np.save(tmp / "chunks.npy", rows, allow_pickle=False)
        faiss.write_index(index, str(tmp / "index.faiss"))
        files = {}
        if chunk_texts is not None:
            from .lexical import LexicalIndex

            LexicalIndex.build(chunk_texts, chunk_articles_).save(tmp / "bm25")
            for p in sorted((tmp / "bm25").iterdir()):
                files[f"bm25/{p.name}"] = p
        for name in _FILES[1:]:
            files[name] = tmp / name
        manifest = dict(manifest, files={name: {"size": p.stat().st_size, "sha256": _sha256(p)} for name, p in files.items()})
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
        for p in tmp.rglob("*"):
            if p.is_file():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
        os.rename(tmp, gen)
        _fsync_dir(root)
        pointer = root / f".{_CURRENT}.tmp-{os.getpid()}"
        with open(pointer, "w") as f:
            f.write(gen.name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer, root / _CURRENT)  # the one step that makes the new index live
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_small(root / _SOURCES, json.dumps({"generation": gen.name, "corpus_paths": manifest["corpus_paths"]},
                                             indent=1, ensure_ascii=False) + "\n")
    _collect_garbage(root, keep=gen.name)


def _write_small(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: readers see the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _collect_garbage(root: Path, keep: str) -> None:
    """Remove generations and leftovers that CURRENT no longer names."""
    for p in root.iterdir():
        if p.name == keep:
            continue
        if p.is_dir() and (p.name.startswith("gen-") or p.name.startswith(".tmp-gen-")):
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_file() and (p.name.startswith(f".{_CURRENT}.tmp-") or p.name.startswith(f".{_SOURCES}.tmp-")):
            p.unlink(missing_ok=True)
