"""A small thread-safe LRU cache for compiled templates, keyed by the caller (version id)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["CompiledCache"]

T = TypeVar("T")


class CompiledCache(Generic[T]):
    """Keep the `maxsize` most recently used compiled templates.

    Template versions are immutable, so a version id is a safe key; compiling twice under a race
    is harmless (the same result), so the compile runs outside the lock.
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compile(self, key: Hashable, compile: Callable[[], T]) -> T:
        """The cached value for `key`, compiling (and caching) it on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compile()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        """Forget every compiled template."""
        with self._lock:
            self._items.clear()
