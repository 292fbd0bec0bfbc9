"""What is computed once per loaded index generation (the words it writes in lower case, its capitals, its
texts folded for copy detection), remembered for the few generations a process holds."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

__all__ = ["per_store", "GENERATIONS"]

T = TypeVar("T")
#: Generations remembered: a served index and the one replacing it, with room to spare.
GENERATIONS = 4


def per_store(compute: Callable[[object], T]) -> Callable[[object], T]:
    """``compute(store)``, remembered per store object (one per index generation): a cache, not state.

    The store is kept beside its value, so an id reused by a new store is never
    mistaken for the old one.
    """
    cache: dict[int, tuple[object, T]] = {}

    @functools.wraps(compute)
    def cached(store: object) -> T:
        hit = cache.get(id(store))
        if hit is None or hit[0] is not store:
            while len(cache) >= GENERATIONS:
                cache.pop(next(iter(cache)))
            hit = cache[id(store)] = (store, compute(store))
        return hit[1]

    return cached
