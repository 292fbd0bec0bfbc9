"""Sources: where each indexed article came from, and what one re-index keeps, adds and removes.

Removing is always asked for. An article the run did not read again (its path
was not named, it was uploaded, its path is missing, or its file is gone) stays
in the index unless it is dropped by name (``rag remove``) or ``prune`` is set;
even then uploads and articles of a missing path stay, since neither was
deleted on purpose by the paths named. Each group kept or removed gets one line
saying why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .corpus import Article

__all__ = ["Plan", "plan", "infer_origins", "UPLOADS", "UPLOADS_DIR"]

#: The origin of articles added through uploads: ``<index>/uploads/``, wherever the index directory is.
UPLOADS = "<uploads>"
#: The folder inside the index directory that holds uploaded files.
UPLOADS_DIR = "uploads"

_WHY = {
    ("kept", "uploads"): "kept {n} uploaded {articles} (remove one with 'rag remove NAME')",
    ("kept", "missing"): "kept {n} {articles} from {o}, which is missing",
    ("kept", "not found"): "kept {n} {articles} no longer found in {o} ('--prune' removes them)",
    ("kept", "not named"): "kept {n} {articles} from {o}, not named this time ('--prune' removes them)",
    ("removed", "asked"): "removed {n} {articles} as asked",
    ("removed", "not found"): "removed {n} {articles} no longer found in {o} (--prune)",
    ("removed", "not named"): "removed {n} {articles} from {o}, which was not named (--prune)",
}


@dataclass(frozen=True)
class Plan:
    """What the next generation holds: old articles kept as they are, and the articles read this time."""

    kept: tuple[Article, ...]
    fresh: tuple[Article, ...]
    origin_of: dict[str, str]  # source -> origin, for every article of the next generation
    removed: int
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]


def plan(old: Sequence[Article], old_origin: Mapping[str, str], new: Sequence[Article], origins: Mapping[str, str],
         *, read: Collection[str], missing: Collection[str] = (), prune: bool = False,
         drop: Collection[str] = ()) -> Plan:
    """Merge the articles read this time (``new``, from ``origins``) into those indexed (``old``).

    ``read`` holds the origins read whole this time, ``missing`` the named ones
    that do not exist. An article read again replaces the indexed one of the
    same source, unless that one comes from another origin that stays: then
    the indexed one is kept and the new one skipped with a warning.
    """
    new_sources = {a.source for a in new}
    kept: list[Article] = []
    held: Counter[tuple[str, str]] = Counter()
    gone: Counter[tuple[str, str]] = Counter()
    for a in old:
        o = old_origin.get(a.source, "")
        why = ("asked" if a.source in drop else "uploads" if o == UPLOADS else "missing" if o in missing
               else "not found" if o in read else "not named")
        pruned = prune and why in ("not found", "not named")
        if a.source in new_sources and why != "asked" and (pruned or o in read or o in ("", origins.get(a.source))):
            continue  # read again: unchanged or updated
        if why == "asked" or pruned:
            gone[(why, o)] += 1
        else:
            kept.append(a)
            held[(why, o)] += 1
    kept_sources = {a.source for a in kept}
    warnings = [f"skipped {a.source} from {origins.get(a.source) or 'the corpus'}: an article with that name is "
                f"already indexed from {old_origin.get(a.source) or 'another path'}; kept that one"
                for a in new if a.source in kept_sources]
    fresh = tuple(a for a in new if a.source not in kept_sources)
    origin_of = {a.source: old_origin.get(a.source, "") for a in kept}
    origin_of.update({a.source: origins.get(a.source, "") for a in fresh})
    return Plan(tuple(kept), fresh, origin_of, sum(gone.values()), tuple(_reasons(held, gone)), tuple(warnings))


def _reasons(held: Counter, gone: Counter) -> Iterable[str]:
    for verb, groups in (("kept", held), ("removed", gone)):
        for (why, o), n in sorted(groups.items()):
            yield _WHY[(verb, why)].format(n=n, articles="article" if n == 1 else "articles", o=o or "the corpus given")


def infer_origins(articles: Iterable[Article], paths: Sequence[str], uploads: Path) -> dict[str, str]:
    """The origin of each article of an index that did not record them: its upload, the recorded path that
    holds its file, or the only recorded path; unknown (left out) otherwise."""
    folders = [Path(p) for p in paths]
    out = {}
    for a in articles:
        name = a.source.split("#", 1)[0]
        if (uploads / name).is_file():
            out[a.source] = UPLOADS
            continue
        found = [p for p in folders if (p / name).is_file() or (p.is_file() and p.name == name)]
        guess = found or (folders if len(folders) == 1 else [])
        if guess:
            out[a.source] = str(guess[0])
    return out
