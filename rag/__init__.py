"""Dateline: question answering over dated news articles, with every claim cited by file and date.

Public names, by pipeline stage. Importing ``rag`` is cheap: the model loads on first use.
"""

from .settings import DEFAULT_MODEL, Settings
from .errors import (
    CorpusError, IndexCorrupt, IndexNotFound, InvalidQuery, LLMError, ModelMismatch, RagError, UploadRejected,
)
# corpus → chunks → embeddings → index → retrieval
from .corpus import DATE_SOURCES, Article, Corpus, load_corpus
from .chunking import Chunk, ChunkingConfig, chunk_article
from .embedding import Embedder, HashEmbedder, SentenceTransformerEmbedder, embedder_for, load_embedder
from .store import IndexReport, Store
from .indexing import index_corpus
from .retrieval import Hit, Index, retrieve
from .uploads import UploadReport, add_uploads, check_upload, safe_filename
# → answers
from .answers import REFUSAL, Answer, Citation, LLMConfig, Report
from .analysis import Question, analyse_question
from .answering import answer, answer_stream
from .dates import DateIntent, DateMention, parse_question_dates

__all__ = [
    "Settings", "DEFAULT_MODEL",
    "RagError", "CorpusError", "IndexNotFound", "IndexCorrupt", "ModelMismatch", "InvalidQuery",
    "UploadRejected", "LLMError",
    "Article", "Corpus", "load_corpus", "DATE_SOURCES",
    "Chunk", "ChunkingConfig", "chunk_article",
    "Embedder", "HashEmbedder", "SentenceTransformerEmbedder", "load_embedder", "embedder_for",
    "IndexReport", "Store",
    "Hit", "Index", "index_corpus", "retrieve",
    "UploadReport", "add_uploads", "check_upload", "safe_filename",
    "Answer", "Citation", "Report", "LLMConfig", "REFUSAL", "answer", "answer_stream",
    "Question", "analyse_question", "DateIntent", "DateMention", "parse_question_dates",
]
