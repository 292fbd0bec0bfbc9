"""Readers: one module per archive format, each turning a file into dated Articles.

    text        .txt                       ' date YYYY-MM-DD Headline' first line, or a Title:/Date: header
    records     .json .jsonl .csv          records with title / body / published_at / url fields (or other
                                           tools' names for them)
    pages       .html .htm                 saved web pages (trafilatura, htmldate)
    feeds       .xml .rss .atom            RSS / Atom entries (feedparser)
    webarchive  .warc(.gz) .arc(.gz)       every captured HTML page (warcio)

Every reader is ``read(path, source, log, advance) -> Iterator[Article]``: it
yields articles as it reads, reports each skipped file or record to ``log``
with the reason, and calls ``advance(n)`` as it consumes bytes (for a progress
bar). rag.corpus chooses the reader by file name.
"""

from .base import CONFIDENCES, DATE_SOURCES, MAX_FILE_BYTES, MAX_RECORD_BYTES, Article, Log, article_id, parse_date

__all__ = ["Article", "Log", "DATE_SOURCES", "CONFIDENCES", "MAX_FILE_BYTES", "MAX_RECORD_BYTES", "article_id",
           "parse_date"]
