"""Writing a PostgreSQL index: the schema, and one ``rag index`` run as one transaction.

A run holds a session advisory lock (one writer per index; readers never
wait), reads what the index holds, embeds what is new or changed (here or as a
Ray job) before it opens a transaction, then applies everything in that one
transaction: deletes, inserts, BM25 statistics, per-day counts, meta and its
version. A failure or a kill at any moment rolls the transaction back, so
readers go on seeing the previous state whole; nothing changed means nothing
written.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np

from .chunking import Chunk, ChunkingConfig, chunk_articles
from .corpus import Article, Corpus
from .embed_jobs import encode_texts
from .embedding import Embedder
from .errors import IndexCorrupt, RagError
from .lexical import _stemmer, _words, lexical_document
from .pgconnect import (
    HNSW_EF_CONSTRUCTION, HNSW_M, PGVECTOR_MIN, _ARTICLE_COLUMNS, _check_meta, _register, article_from_row,
    article_key, as_array, chunk_key, connect, features, read_meta, redact,
)
from .pglexical import _stemmer_once
from .sources import plan
from .manifest import FORMAT_VERSION, check_model
from .store import _EMBED_FORMAT, IndexReport, _choose_kind, build_inputs, tally

__all__ = ["build_pg_index", "create_schema", "tsvector_literal"]

_LOCK = "SELECT pg_try_advisory_lock(('x' || substr(md5('dateline index ' || current_schema()), 1, 16))::bit(64)::bigint)"
_UNLOCK = "SELECT pg_advisory_unlock(('x' || substr(md5('dateline index ' || current_schema()), 1, 16))::bit(64)::bigint)"


def create_schema(conn, dimension: int) -> None:
    """The tables and indexes of an index whose vectors have ``dimension`` numbers, those not there yet (in the
    caller's transaction). Tables made beforehand (distributed and partitioned for a cluster, see
    docs/scaling.md) are used as they are. The HNSW index is made by the writer once the index wants it."""
    conn.execute(f"""
        CREATE TABLE IF NOT EXISTS dateline_meta (key text PRIMARY KEY, value jsonb NOT NULL);
        CREATE TABLE IF NOT EXISTS dateline_publishers (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
        CREATE TABLE IF NOT EXISTS dateline_articles (
            id bigint PRIMARY KEY, source text NOT NULL, content_id text NOT NULL, meta_hash text NOT NULL,
            title text NOT NULL, published date, publisher_id integer REFERENCES dateline_publishers (id),
            url text, author text, date_source text NOT NULL DEFAULT '', date_confidence text NOT NULL DEFAULT '',
            updated date, excerpt boolean NOT NULL DEFAULT false, body text NOT NULL,
            origin text NOT NULL DEFAULT '', n_chunks integer NOT NULL);
        CREATE INDEX IF NOT EXISTS dateline_articles_published ON dateline_articles (published, publisher_id);
        CREATE TABLE IF NOT EXISTS dateline_chunks (
            article_id bigint NOT NULL REFERENCES dateline_articles (id) ON DELETE CASCADE,
            id bigint NOT NULL, position integer NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL,
            published date, publisher_id integer, embedding vector({int(dimension)}) NOT NULL,
            terms tsvector NOT NULL, n_terms integer NOT NULL, seq bigint NOT NULL,
            PRIMARY KEY (article_id, id));
        CREATE INDEX IF NOT EXISTS dateline_chunks_published ON dateline_chunks (published, publisher_id);
        CREATE INDEX IF NOT EXISTS dateline_chunks_publisher ON dateline_chunks (publisher_id, published);
        CREATE INDEX IF NOT EXISTS dateline_chunks_terms ON dateline_chunks USING gin (terms);
        CREATE TABLE IF NOT EXISTS dateline_terms (term text PRIMARY KEY, df integer NOT NULL);
        CREATE TABLE IF NOT EXISTS dateline_days (published date, publisher_id integer, chunks bigint NOT NULL);
        CREATE INDEX IF NOT EXISTS dateline_days_published ON dateline_days (published);
    """)
    column = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                          "WHERE attrelid = 'dateline_chunks'::regclass AND attname = 'embedding'").fetchone()
    if column is None or column[0] != f"vector({int(dimension)})":
        raise RagError(f"the table dateline_chunks holds {column[0] if column else 'no'} embeddings, and this model "
                       f"makes vector({int(dimension)}): make the column vector({int(dimension)})")


def _drop_schema(conn) -> None:
    conn.execute("DROP TABLE IF EXISTS dateline_chunks, dateline_articles, dateline_publishers, dateline_terms, "
                  "dateline_days, dateline_meta")


def tsvector_literal(words: Sequence[str]) -> str:
    """A tsvector holding ``words`` with their positions (so a term's count is its number of positions).

    >>> tsvector_literal(["odd", "gun", "odd"])
    "'odd':1,3 'gun':2"
    """
    where: dict[str, list[int]] = {}
    for n, w in enumerate(words, start=1):
        if len(w.encode("utf-8")) < 2047:  # PostgreSQL's longest lexeme
            where.setdefault(w, []).append(min(n, 16383))
    return " ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "':" + ",".join(map(str, p[:256]))
                    for w, p in where.items())


def _clean(text: str | None) -> str | None:
    """PostgreSQL text holds no NUL; U+FFFD takes its place, one character for one, so offsets hold."""
    return text.replace("\x00", "\ufffd") if text else text


def _meta_hash(a: Article) -> str:
    """What an article carries beside its content id: a change rewrites its rows (keeping its vectors)."""
    fields = [a.publisher, a.url, a.author, a.date_source, a.date_confidence,
              a.updated.isoformat() if a.updated else None, bool(a.excerpt)]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


def build_pg_index(
    corpus: Corpus, url: str, embedder: Embedder, chunking: ChunkingConfig, *, rebuild: bool = False,
    kind: str = "auto", approximate_threshold: int = 50_000, batch_size: int = 32, progress: bool = False,
    corpus_paths: Sequence[str] = (), embed_text: Callable[[Chunk, Article], str] | None = None,
    lexical: bool = True, origins: Mapping[str, str] | None = None, read: Collection[str] | None = None,
    missing: Collection[str] = (), prune: bool = False, drop: Collection[str] = (), ray: str | None = None,
) -> IndexReport:
    """``rag.faisswrite.build_index`` for an index in PostgreSQL: the same plan (kept, added, updated, removed and
    why), the same chunks and vectors, committed in one transaction."""
    t0 = time.perf_counter()
    shown = redact(url)
    embed_text, origins, read, warnings = build_inputs(corpus, embed_text, origins, read)
    conn = connect(url, application_name="dateline index")
    try:
        if not conn.execute(_LOCK).fetchone()[0]:
            raise RagError(f"another 'rag index' is writing {shown}; wait for it to finish")
        feats = _extension(conn, shown)
        meta = read_meta(conn)
        damaged = False
        if meta is not None:
            try:
                _check_meta(meta, shown)
            except IndexCorrupt as e:
                if not rebuild:
                    raise
                damage = str(e).split("; rebuild", 1)[0]
                warnings.append(f"the previous index could not be read ({damage}): rebuilt from the paths it "
                                f"records, so articles from paths that no longer exist could not be kept")
                meta, damaged = None, True
        if meta is not None and not rebuild:
            check_model(meta, shown, embedder.name, embedder.dimension, getattr(embedder, "encoder", None))
        reuse = (meta is not None and not rebuild and meta.get("chunking") == chunking.to_dict()
                 and meta.get("embed_format") == _EMBED_FORMAT)
        old = ([] if meta is None else
               conn.execute("SELECT source, content_id, origin, meta_hash FROM dateline_articles").fetchall())
        before = {s: c for s, c, _, _ in old}
        old_origin = {s: o for s, _, o, _ in old if o}
        old_meta = {s: m for s, _, _, m in old}
        stubs = [Article(c, s, "", None, "") for s, c, _, _ in old]
        merge = plan(stubs, old_origin, corpus.articles, origins, read=read, missing=missing, prune=prune, drop=drop)
        warnings += merge.warnings
        kept, fresh = list(merge.kept), list(merge.fresh)
        unchanged, updated, added = tally(before, fresh)
        final = {a.source for a in kept} | {a.source for a in fresh}
        removed = [s for s in before if s not in final]
        if reuse:
            to_embed = updated + added
            rewrite = [a for a in unchanged if old_meta.get(a.source) != _meta_hash(a)]
        else:  # a rebuild, or new chunking: every article embedded again, kept ones from their stored text
            to_embed = _stored(conn, [a.source for a in kept]) + fresh
            rewrite = []
        moved = {a.source: merge.origin_of[a.source] for a in unchanged
                 if reuse and old_origin.get(a.source, "") != merge.origin_of[a.source]}

        chunks = chunk_articles(to_embed, embedder, chunking)
        texts = [embed_text(c, a) for a, cs in zip(to_embed, chunks) for c in cs]
        vectors = encode_texts(embedder, texts, batch_size=batch_size, progress=progress, ray=ray)

        old_counts = meta["counts"] if meta is not None else {"articles": 0, "chunks": 0, "terms": 0}
        gone = [article_key(s) for s in removed] + [article_key(a.source) for a in updated]  # rewritten: same count
        gone_chunks = (conn.execute("SELECT count(*) FROM dateline_chunks WHERE article_id = ANY(%s)", (gone,))
                       .fetchone()[0] if reuse and gone else 0)
        n_chunks = (old_counts["chunks"] - gone_chunks if reuse else 0) + len(texts)
        kind_now = _choose_kind(n_chunks, kind, approximate_threshold)
        if kind_now == "hnsw" and not feats.hnsw:
            warnings.append(f"pgvector {'.'.join(map(str, feats.pgvector))} at {shown} has no HNSW index (0.5 and "
                            f"later have): every search scores all allowed vectors exactly")
            kind_now = "flat"
        new_meta = {
            "format_version": FORMAT_VERSION, "store": "postgresql", "model": embedder.name,
            "encoder": getattr(embedder, "encoder", None), "dimension": embedder.dimension,
            "chunking": chunking.to_dict(), "embed_format": _EMBED_FORMAT, "index_kind": kind_now,
            "corpus_paths": list(corpus_paths),
        }
        changed = (meta is None or not reuse or removed or to_embed or rewrite or moved
                   or any(meta.get(k) != v for k, v in new_meta.items()))
        counts = old_counts
        if changed:
            with conn.transaction():
                conn.execute("SET LOCAL application_name = 'dateline index: writing'")
                counts = _write(conn, meta, new_meta, reuse, removed, updated, rewrite, to_embed, chunks, vectors,
                                merge.origin_of, moved, embedder.dimension, damaged)
        if not counts["articles"]:
            warnings.append(f"the index at {shown} holds no articles: searches find nothing and questions are "
                            f"answered 'the articles don't cover this' until articles are added")
        undated = conn.execute("SELECT count(*) FROM dateline_articles WHERE published IS NULL").fetchone()[0]
    finally:
        conn.close()  # ends the session: its lock goes with it, and an open transaction is rolled back
    return IndexReport(
        index=shown, articles=counts["articles"], chunks=counts["chunks"], embedded_chunks=len(texts),
        added=len(added), updated=len(updated), removed=merge.removed, unchanged=len(unchanged),
        skipped=corpus.skipped, warnings=tuple(warnings), kind=kind_now, seconds=time.perf_counter() - t0,
        kept=len(kept), reasons=merge.reasons, undated=undated,
    )


def _extension(conn, shown: str):
    """pgvector's features, creating the extension when it is missing (which needs the right to)."""
    feats = features(conn)
    if feats is None:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except Exception as e:
            raise RagError(f"the database at {shown} has no pgvector extension and it could not be created "
                           f"({str(e).strip().splitlines()[0]}): ask its administrator to run CREATE EXTENSION vector "
                           f"(pgvector {'.'.join(map(str, PGVECTOR_MIN))} or later; 0.5 or later for HNSW)") from e
        feats = features(conn)
    if feats.pgvector < PGVECTOR_MIN:
        raise RagError(f"pgvector {'.'.join(map(str, feats.pgvector))} at {shown} is too old: Dateline needs "
                       f"{'.'.join(map(str, PGVECTOR_MIN))} or later (ALTER EXTENSION vector UPDATE)")
    _register(conn)
    return feats


def _stored(conn, sources: Sequence[str]) -> list[Article]:
    """Articles as stored, text and all, for embedding again."""
    if not sources:
        return []
    publishers = dict(conn.execute("SELECT id, name FROM dateline_publishers").fetchall())
    keys = [article_key(s) for s in sources]
    rows = conn.execute(f"SELECT {_ARTICLE_COLUMNS} FROM dateline_articles WHERE id = ANY(%s)", (keys,)).fetchall()
    by_key = {r[0]: article_from_row(r, publishers) for r in rows}
    return [by_key[k] for k in keys if k in by_key]


def _old_chunks_of(conn, articles: Sequence[Article]) -> dict[str, list[tuple]]:
    """The stored chunks (position, start, end, vector, seq) of ``articles``: rewritten with their vectors and
    places kept."""
    if not articles:
        return {}
    by_key = {article_key(a.source): a.source for a in articles}
    out: dict[str, list[tuple]] = {s: [] for s in by_key.values()}
    for ak, pos, start, end, vec, seq in conn.execute(
            "SELECT article_id, position, start_char, end_char, embedding, seq FROM dateline_chunks "
            "WHERE article_id = ANY(%s) ORDER BY article_id, position", (list(by_key),)):
        out[by_key[ak]].append((pos, start, end, as_array(vec), seq))
    return out


def _write(conn, meta, new_meta, reuse, removed, updated, rewrite, to_embed, chunks, vectors, origin_of, moved,
           dimension, damaged=False) -> dict:
    """Everything one run changes, inside the caller's transaction; returns the new counts."""
    if meta is not None and meta.get("dimension") != dimension:
        _drop_schema(conn)  # a rebuild with a model of another size (refused without --rebuild)
        meta = None
    elif damaged:
        _drop_schema(conn)  # a rebuild over a meta table that cannot be read: written again whole
    if meta is None:
        create_schema(conn, dimension)
        counts = {"articles": 0, "chunks": 0, "terms": 0}
        version = next_seq = 0
    else:
        counts = dict(meta["counts"])
        version, next_seq = meta["version"], meta.get("next_seq", 0)
    old_vectors = _old_chunks_of(conn, rewrite)
    df: collections.Counter[str] = collections.Counter()
    days: set[dt.date | None] = set()
    gone = ([article_key(s) for s in removed] + [article_key(a.source) for a in updated + rewrite]) if reuse else None
    if gone is None:  # everything is written again
        days |= {d for (d,) in conn.execute("SELECT DISTINCT published FROM dateline_days")}
        conn.execute("DELETE FROM dateline_articles; DELETE FROM dateline_terms; DELETE FROM dateline_days")
        counts = {"articles": 0, "chunks": 0, "terms": 0}
        next_seq = 0
    elif gone:
        for term, n in conn.execute("SELECT u.lexeme, count(*) FROM dateline_chunks c, unnest(c.terms) u "
                                    "WHERE c.article_id = ANY(%s) GROUP BY 1", (gone,)):
            df[term] -= n
        n_articles, n_chunks, n_terms = conn.execute(
            "SELECT count(DISTINCT article_id), count(*), coalesce(sum(n_terms), 0) FROM dateline_chunks "
            "WHERE article_id = ANY(%s)", (gone,)).fetchone()
        days |= {d for (d,) in conn.execute("SELECT DISTINCT published FROM dateline_articles WHERE id = ANY(%s)", (gone,))}
        deleted = conn.execute("DELETE FROM dateline_articles WHERE id = ANY(%s)", (gone,)).rowcount
        counts = {"articles": counts["articles"] - deleted, "chunks": counts["chunks"] - n_chunks,
                  "terms": counts["terms"] - int(n_terms)}

    publishers = dict((n, i) for i, n in conn.execute("SELECT id, name FROM dateline_publishers"))
    names = sorted({a.publisher for a in list(to_embed) + list(rewrite) if a.publisher} - set(publishers))
    for name in names:
        publishers[name] = max(publishers.values(), default=0) + 1
    if names:
        conn.execute("INSERT INTO dateline_publishers (id, name) SELECT * FROM unnest(%s::int[], %s::text[])",
                     ([publishers[n] for n in names], names))

    stem = _stemmer_once(_stemmer)
    rows_of: list[tuple[Article, list[tuple[int, int, int, np.ndarray, int]]]] = []
    rows_of += [(a, old_vectors.get(a.source, [])) for a in rewrite]
    offset = 0
    for a, cs in zip(to_embed, chunks):  # in the FAISS store's order: chunk ids rise as chunks are written
        rows_of.append((a, [(c.position, c.start, c.end, vectors[offset + n], next_seq + offset + n)
                            for n, c in enumerate(cs)]))
        offset += len(cs)
    next_seq += offset
    with conn.cursor().copy(
            "COPY dateline_articles (id, source, content_id, meta_hash, title, published, publisher_id, url, author, "
            "date_source, date_confidence, updated, excerpt, body, origin, n_chunks) FROM STDIN") as copy:
        for a, rows in rows_of:
            copy.write_row((article_key(a.source), _clean(a.source), a.id, _meta_hash(a), _clean(a.title), a.date,
                            publishers.get(a.publisher) if a.publisher else None, _clean(a.url), _clean(a.author),
                            a.date_source, a.date_confidence, a.updated, bool(a.excerpt), _clean(a.text),
                            origin_of.get(a.source, ""), len(rows)))
            days.add(a.date)
    with conn.cursor().copy(
            "COPY dateline_chunks (article_id, id, position, start_char, end_char, published, publisher_id, embedding, "
            "terms, n_terms, seq) FROM STDIN") as copy:
        for a, rows in rows_of:
            texts = [lexical_document(a.text[s:e], a) for _, s, e, _, _ in rows]
            for (pos, s, e, vec, seq), words in zip(rows, _words(texts, stem) if texts else []):
                copy.write_row((article_key(a.source), chunk_key(a.id, s, e), pos, s, e, a.date,
                                publishers.get(a.publisher) if a.publisher else None, vec, tsvector_literal(words),
                                len(words), seq))
                df.update(set(words))
                counts["chunks"] += 1
                counts["terms"] += len(words)
        counts["articles"] += len(rows_of)
    delta = {t: n for t, n in df.items() if n}
    if delta:
        conn.execute("INSERT INTO dateline_terms (term, df) SELECT * FROM unnest(%s::text[], %s::int[]) "
                     "ON CONFLICT (term) DO UPDATE SET df = dateline_terms.df + excluded.df",
                     (list(delta), list(delta.values())))
        conn.execute("DELETE FROM dateline_terms WHERE term = ANY(%s) AND df <= 0", ([t for t, n in delta.items() if n < 0],))
    if moved:
        conn.execute("UPDATE dateline_articles SET origin = m.origin FROM unnest(%s::bigint[], %s::text[]) AS m(id, origin) "
                     "WHERE dateline_articles.id = m.id", ([article_key(s) for s in moved], list(moved.values())))
    _recount_days(conn, days)
    _vector_index(conn, new_meta["index_kind"], counts["chunks"], dimension)
    values = dict(new_meta, counts=counts, version=version + 1, next_seq=next_seq,
                  created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    conn.execute("INSERT INTO dateline_meta (key, value) SELECT k, v FROM jsonb_each(%s::jsonb) AS e(k, v) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (json.dumps(values),))
    return counts


def _recount_days(conn, days: set) -> None:
    """Chunks per (publication date, publisher) for the days this run touched, counted again from the chunks."""
    dated = sorted(d for d in days if d is not None)
    undated = None in days
    conn.execute("DELETE FROM dateline_days WHERE published = ANY(%s) OR (%s AND published IS NULL)", (dated, undated))
    conn.execute("INSERT INTO dateline_days (published, publisher_id, chunks) SELECT published, publisher_id, count(*) "
                 "FROM dateline_chunks WHERE published = ANY(%s) OR (%s AND published IS NULL) GROUP BY 1, 2",
                 (dated, undated))


def _vector_index(conn, kind: str, chunks: int, dimension: int) -> None:
    """The HNSW index exists exactly when the index kind is hnsw; built with room for its graph in memory."""
    exists = conn.execute("SELECT to_regclass('dateline_chunks_embedding')").fetchone()[0] is not None
    if kind == "hnsw" and not exists:
        need_mb = int(chunks * (dimension * 4 + HNSW_M * 2 * 8 * 2) * 1.3 / 2**20) + 64
        conn.execute(f"SET LOCAL maintenance_work_mem = '{min(max(need_mb, 64), 4096)}MB'")
        conn.execute(f"CREATE INDEX dateline_chunks_embedding ON dateline_chunks USING hnsw (embedding vector_ip_ops) "
                     f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")
    elif kind != "hnsw" and exists:
        conn.execute("DROP INDEX dateline_chunks_embedding")

