"""Indexing: add, update and remove articles in an index (a FAISS directory or PostgreSQL), embedding only what
is new or changed and never dropping an article silently."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from .checks import brief
from .chunking import ChunkingConfig
from .corpus import Article, Corpus, load_corpus
from .embedding import Embedder, embedder_for
from .errors import CorpusError, InvalidQuery
from .location import exists, location, open_store, recorded_encoder, recorded_paths, shown, uploads_dir, write_index
from .settings import Settings, is_database
from .sources import UPLOADS
from .store import IndexReport, Store

__all__ = ["index_corpus", "remove_articles"]


def index_corpus(paths: Sequence[Path | str] | None = None, *, settings: Settings | None = None,
                 rebuild: bool = False, prune: bool = False, progress: bool = False,
                 embedder: Embedder | None = None, ray: str | None = None) -> IndexReport:
    """Add and update the articles under ``paths`` in ``settings.index``; only new or changed ones are embedded.

    Nothing is removed unless asked: articles from paths not named this time,
    from uploads, or whose files are gone stay in the index, and the report
    says how many and why. ``prune`` removes those no longer under ``paths``
    and those from paths not named (uploads stay: ``remove_articles`` takes
    them out). Without ``paths``: the paths the index records, plus its
    uploads (``settings.corpus`` for a new index). ``rebuild`` embeds every
    recorded path, named path and upload again.

    A named path that does not exist is a warning, and the articles indexed
    from it stay; CorpusError when no path named exists at all.

    ``settings.index`` is a directory or a postgresql:// URL; ``ray`` runs the
    embedding as a Ray Data job (``"local"``, ``"auto"`` or ``"ray://HOST:PORT"``),
    which writes the same index.
    """
    settings = settings or Settings()
    root = location(settings.index)
    uploads = uploads_dir(root)
    recorded = recorded_paths(root)
    named = [Path(p) for p in paths] if paths else []
    if not named and recorded is None:
        if (root / "CURRENT").exists() if not is_database(root) else exists(root):
            raise CorpusError(f"the index at {shown(root)} does not record the paths it was built from (its manifest "
                              f"is damaged); name them: 'rag index PATH ... --index {shown(root).rstrip('/')} --rebuild'")
        named = [Path(settings.corpus)]  # a new index
    if named and not any(p.exists() for p in named):
        raise CorpusError(f"no such file or folder: {', '.join(str(p) for p in named)}; the index is unchanged")
    recorded = recorded or []
    targets = list(named)
    if not paths or rebuild:  # everything the index holds is read again
        targets += [] if (paths and prune) else [Path(p) for p in recorded]
        targets.append(uploads)

    def origin(p: Path) -> str:
        return UPLOADS if p.resolve() == uploads.resolve() else str(p.resolve())

    targets = list({origin(p): p for p in targets}.values())
    missing = [p for p in targets if not p.exists() and origin(p) != UPLOADS]
    articles: dict[str, Article] = {}
    origins: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    warnings = [f"{p} does not exist (moved, deleted or not mounted?): nothing was read from it, and the articles "
                f"indexed from it stay" for p in missing]
    read: set[str] = set()
    for p in targets:
        if not p.exists():
            continue
        try:
            got = load_corpus([p], progress=progress)
        except CorpusError as e:  # it vanished meanwhile
            warnings.append(str(e))
            continue
        read.add(origin(p))
        skipped += got.skipped
        warnings += got.warnings
        for a in got.articles:
            if a.source in articles:
                skipped.append((a.source, "a second article with the same citation key (file name or url)"))
                warnings.append(f"skipped {a.source} in {p}: an article with the same name was read from "
                                f"{origins[a.source]}; kept that one")
                continue
            articles[a.source] = a
            origins[a.source] = origin(p)
    own = [origin(p) for p in named if origin(p) != UPLOADS]
    embedder = embedder or embedder_for(settings, built_with=None if rebuild else recorded_encoder(root))
    return write_index(
        Corpus(tuple(articles.values()), tuple(skipped), tuple(warnings)), root, embedder,
        ChunkingConfig(settings.chunk_tokens or embedder.max_tokens, settings.overlap_tokens),
        rebuild=rebuild, kind=settings.index_kind, approximate_threshold=settings.approximate_threshold,
        batch_size=settings.batch_size, progress=progress, lexical=True,
        corpus_paths=list(dict.fromkeys([*([] if (paths and prune) else recorded), *own])),
        origins=origins, read=read, missing={origin(p) for p in missing}, prune=prune, ray=ray,
    )


def remove_articles(names: Sequence[str], *, settings: Settings | None = None,
                    embedder: Embedder | None = None) -> IndexReport:
    """Take articles out of ``settings.index``, each named as it is cited, by its collection file, or by a
    recorded corpus path (all of that path's articles, and the path is no longer recorded).

    An uploaded file is moved to ``<index>/uploads/.removed/`` (kept, but no
    longer indexed). A file under a corpus folder is left where it is: indexing
    that folder again adds it back. CorpusError, with nothing changed, if a
    name matches nothing.
    """
    settings = settings or Settings()
    root = location(settings.index)
    store = open_store(root)
    origin = store.origins()
    sources = [a.source for a in store.articles] if isinstance(store, Store) else store.sources()
    recorded = recorded_paths(root) or []
    if isinstance(names, str) or not names:
        raise InvalidQuery("name the articles to remove, e.g. 'rag remove 004_3895aaea98e54197.txt'")
    drop: set[str] = set()
    unrecord: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InvalidQuery(f"name the articles to remove, got {brief(name)}")
        hit = {s for s in sources if s == name or s.startswith(name + "#")}
        path = str(Path(name).resolve())
        if not hit and (path in recorded or path in origin.values()):
            hit = {s for s, o in origin.items() if o == path}
            unrecord.add(path)
        if not hit and path not in unrecord:
            example = sources[0] if sources else "004_3895aaea98e54197.txt"
            raise CorpusError(f"no article {brief(name)} in the index at {shown(root)} (give the name it is cited by, "
                              f"e.g. {example}, or a corpus path); nothing was removed")
        drop |= hit
    uploads = uploads_dir(root)
    files = sorted({s.split("#", 1)[0] for s in drop if origin.get(s) == UPLOADS})
    for f in files:  # the file is what keeps an uploaded article indexed, so a collection goes whole or not at all
        rest = [s for s in sources if s.split("#", 1)[0] == f and s not in drop]
        if rest:
            raise CorpusError(f"{f} is an uploaded collection that holds {len(rest)} more articles: remove the "
                              f"whole file with 'rag remove {f}'; nothing was removed")
    embedder = embedder or embedder_for(settings, built_with=recorded_encoder(root))
    moved: list[tuple[Path, Path]] = []
    try:
        for f in files:
            if (uploads / f).is_file():
                dest = _unused(uploads / ".removed" / f)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(uploads / f, dest)
                moved.append((uploads / f, dest))
        report = write_index(
            Corpus(()), root, embedder, ChunkingConfig(**store.manifest["chunking"]), kind=settings.index_kind,
            approximate_threshold=settings.approximate_threshold, read=(), drop=drop,
            corpus_paths=[p for p in recorded if p not in unrecord],
        )
    except BaseException:
        for src, dest in moved:  # the index is as it was, so the files go back
            os.replace(dest, src)
        raise
    return dataclasses.replace(report, reasons=tuple(r for r in report.reasons if r.startswith("removed")))


def _unused(path: Path) -> Path:
    """``path``, or ``path`` with -2, -3... before its suffix, whichever does not exist yet."""
    out, n = path, 2
    while out.exists():
        out, n = path.with_name(f"{path.stem}-{n}{path.suffix}"), n + 1
    return out
