"""Checks on what callers pass: a question, ``k``, a date, a list of names. Each bad value is refused with an
InvalidQuery that names the field and what was wrong, before anything loads; a question's own words never raise."""

from __future__ import annotations

import datetime as dt
import numbers
import re
from collections.abc import Iterable

from .errors import InvalidQuery

__all__ = ["MAX_QUERY_CHARS", "MAX_K", "brief", "parse_day", "check_query", "check_k", "check_names"]

MAX_QUERY_CHARS = 2000
MAX_K = 1000

# Lone surrogates (undecodable bytes of a command line arrive as U+DC80..U+DCFF) cannot be encoded,
# so tokenizers raise on them; control characters mean nothing in a question.
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut short: error messages echo what was wrong without echoing a megabyte."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"


def parse_day(value: dt.date | str | None, name: str) -> dt.date | None:
    """A ``since``/``until`` value as a date; InvalidQuery naming the field if it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidQuery(f"{name} must be a date written YYYY-MM-DD, got {brief(value)}")


def check_query(query: object) -> str:
    """The question, cleaned so that nothing in it can make a search raise; InvalidQuery if there is none.

    Characters that cannot be encoded (lone surrogates, which is how Python
    hands over the undecodable bytes of a command line) become U+FFFD, and
    control characters become spaces.

    >>> check_query("Who handed \\udcff Baldwin\\x1b[2J the gun? ")
    'Who handed \ufffd Baldwin [2J the gun?'
    """
    if not isinstance(query, str):
        raise InvalidQuery(f"the question must be text, got {type(query).__name__}")
    query = _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", query)).strip()
    if not query:
        raise InvalidQuery("the question is empty: type a question, e.g. 'Who handed Alec Baldwin the gun?'")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"the question is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}")
    return query


def check_k(k: object) -> int:
    """``k`` if it is a whole number from 1 to MAX_K; InvalidQuery naming ``k`` if not (True is not 1)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= MAX_K:
        raise InvalidQuery(f"k must be a whole number from 1 to {MAX_K}, got {brief(k)}")
    return int(k)


def check_names(value: object, name: str) -> set[str]:
    """A ``sources``/``publishers`` filter as a set of names; InvalidQuery naming it if it is not a list of text."""
    if value is None:
        return set()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidQuery(f"{name} must be a list of names, got {brief(value)}")
    names = list(value)
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise InvalidQuery(f"{name} must be a list of names, and {brief(bad[0])} is not one")
    return set(names)
