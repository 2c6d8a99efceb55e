"""A process-wide cache of what every event needs and rarely changes.

Ingesting an event used to reload the same rows each time: the API key, the project, the
active distributions for the trigger, the segments with their parsed filters, the template's
live variants. They change only when someone edits them, so they are cached here.

Correctness in one process: every entry belongs to a *scope* (a project id, or
:data:`API_KEYS`) and is tagged with the scope's generation read *before* its rows were loaded.
Write paths call :func:`changed` in their transaction; it bumps the generation at once and again
when the transaction ends (commit or rollback). So an entry loaded from the old rows, or from
the writer's own uncommitted ones, never survives the change, and one loaded after the commit
is the new state.

Several processes (the CLI revoking a key while ``dm serve`` runs; a future distributed mode):
generations live in each process's memory, so another process's change is seen when the entry
expires: every entry lives at most :data:`TTL_SECONDS`. A shared generation (a counter row read
once per TTL, or PostgreSQL ``LISTEN/NOTIFY``) would make that immediate if it ever matters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

__all__ = [
    "API_KEYS",
    "CACHE",
    "MISSING",
    "TTL_SECONDS",
    "GenerationCache",
    "changed",
    "detached",
]

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)

#: The scope of API key lookups, which happen before the project is known.
API_KEYS = "api-keys"
#: How long an entry lives, whatever the generations say: the delay before a change made by
#: another process is seen here.
TTL_SECONDS = 5.0
#: Beyond this many entries the cache starts again empty (a bound, not a policy: it holds a few
#: entries per active project and API key).
MAX_ENTRIES = 20_000

_SESSION_KEY = "project_cache_changed"
#: What :meth:`GenerationCache.peek` answers for a key without a valid entry.
MISSING: Any = object()


@dataclass(frozen=True)
class _Entry:
    scope: str
    generation: int
    expires: float
    value: Any


class GenerationCache:
    """Values keyed by anything, each valid while its scope's generation is unchanged."""

    def __init__(self, ttl: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._generations: dict[str, int] = {}
        self._entries: dict[Hashable, _Entry] = {}

    def generation(self, scope: str) -> int:
        """The scope's current generation."""
        return self._generations.get(scope, 0)

    def bump(self, scope: str) -> None:
        """Invalidate every entry of ``scope``."""
        with self._lock:
            self._generations[scope] = self._generations.get(scope, 0) + 1

    def peek(self, scope: str, key: Hashable) -> Any:
        """The cached value of ``key`` if it is still valid, else :data:`MISSING` (loads nothing).

        For callers on an event loop, which must not wait for the database: on a miss they
        load in a thread.
        """
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.scope == scope
            and entry.generation == self.generation(scope)
            and time.monotonic() < entry.expires
        ):
            return entry.value
        return MISSING

    def get(self, scope: str, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``load()`` (stored unless it raises)."""
        value: T = self.peek(scope, key)
        if value is not MISSING:
            return value
        now = time.monotonic()
        generation = self.generation(scope)  # read before loading: see the module docstring
        value = load()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = _Entry(scope, generation, now + self.ttl, value)
        return value

    def clear(self) -> None:
        """Forget every entry (generations keep counting)."""
        with self._lock:
            self._entries.clear()


#: The process's cache.
CACHE = GenerationCache()


def changed(session: Session, scope: str) -> None:
    """Record that ``session``'s transaction changes what ``scope``'s cached entries hold."""
    CACHE.bump(scope)
    session.info.setdefault(_SESSION_KEY, set()).add(scope)


def _bump_changed(session: Session) -> None:
    for scope in session.info.pop(_SESSION_KEY, ()):
        CACHE.bump(scope)


def _bump_after_rollback(session: Session) -> None:
    # A rollback may be of a savepoint, after which the transaction goes on: bump, keep the set.
    for scope in session.info.get(_SESSION_KEY, ()):
        CACHE.bump(scope)


event.listen(Session, "after_commit", _bump_changed)
event.listen(Session, "after_rollback", _bump_after_rollback)


def detached(row: M) -> M:
    """A copy of ``row`` that belongs to no session, safe to cache and share between threads.

    The loaded row itself would be expired by its session's rollback, or changed by its writes.
    """
    return type(row).model_validate(row.model_dump())
