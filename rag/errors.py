"""Errors Dateline raises, each saying what went wrong and what to do next.

    RagError
    ├── CorpusError        nothing indexable in what was given
    ├── IndexNotFound      no index where one was expected
    ├── IndexCorrupt       an index file is truncated, damaged or missing
    ├── ModelMismatch      the index was built with another embedding model
    ├── InvalidQuery       an empty, over-long or malformed question or filter
    ├── UploadRejected     an uploaded file that cannot be added to the corpus
    └── LLMError           the optional generation server failed

Library code raises these; only the CLI and the UI turn them into messages.
"""

from __future__ import annotations

__all__ = [
    "RagError",
    "CorpusError",
    "IndexNotFound",
    "IndexCorrupt",
    "ModelMismatch",
    "InvalidQuery",
    "UploadRejected",
    "LLMError",
]


class RagError(Exception):
    """Base class: its message is complete enough to show a user as it is."""


class CorpusError(RagError):
    """Nothing indexable was found in the paths given."""


class IndexNotFound(RagError):
    """No index exists at the path given."""


class IndexCorrupt(RagError):
    """An index file is missing, truncated or does not match its manifest."""


class ModelMismatch(RagError):
    """The index was built with a different model or vector dimension."""


class InvalidQuery(RagError):
    """A question or a filter value that cannot be searched."""


class UploadRejected(RagError):
    """An uploaded file was refused; the index is left as it was."""


class LLMError(RagError):
    """The generation server could not give a usable reply."""
