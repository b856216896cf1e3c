"""A bounded cache of a one-argument function, keyed by a content hash of its argument.

``functools.lru_cache`` keys on the argument itself, which needs it hashable and would
keep a whole model alive per entry; the analyses instead want one entry per model
*content* (a spec's or compiled model's hash), so that two loads of the same file share
their derived objects (sympy-derived kernels, signed rate links) and an edited file gets
new ones.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

A = TypeVar("A")
R = TypeVar("R")


class KeyedCache(Generic[A, R]):
    """`function` memoised by ``key(argument)``, holding the `maxsize` most recently used results.

    Calls with arguments of equal keys compute `function` once; the least recently used
    entry is dropped when a new one would exceed `maxsize`. Safe to call from several
    threads (a result may then be computed twice, never lost or mixed up).
    """

    def __init__(self, function: Callable[[A], R], key: Callable[[A], Hashable], maxsize: int):
        if maxsize < 1:
            raise ValueError(f"a keyed cache holds at least 1 entry, got maxsize={maxsize}")
        self.function, self.key, self.maxsize = function, key, maxsize
        self._entries: OrderedDict[Hashable, R] = OrderedDict()
        self._lock = threading.Lock()
        functools.update_wrapper(self, function, updated=())  # name and doc; not a class's __dict__

    def __call__(self, argument: A) -> R:
        k = self.key(argument)
        with self._lock:
            if k in self._entries:
                self._entries.move_to_end(k)
                return self._entries[k]
        value = self.function(argument)  # outside the lock: slow (sympy), and may call other caches
        with self._lock:
            self._entries[k] = value
            self._entries.move_to_end(k)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def cache_clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()


def keyed_cache(key: Callable[[A], Hashable], maxsize: int) -> Callable[[Callable[[A], R]], KeyedCache[A, R]]:
    """Decorator: memoise a one-argument function by ``key(argument)`` (see :class:`KeyedCache`).

    Examples
    --------
    >>> @keyed_cache(key=len, maxsize=2)
    ... def first(text: str) -> str:
    ...     return text[0]
    >>> first("ab"), first("xy")  # same key (length 2): the first result is reused
    ('a', 'a')
    """
    return lambda function: KeyedCache(function, key, maxsize)


__all__ = ["KeyedCache", "keyed_cache"]
