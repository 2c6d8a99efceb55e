"""Public identifiers: a type prefix plus a time-ordered random part.

Ids sort by creation time (the first twelve hex digits are milliseconds), so cursor pagination
can order by id alone and new rows land at the end of the primary-key index. Hex, because it is
formatted in C: ids are minted per row in 100,000-row imports and bulk sends.

The random part comes from ``random`` (seeded from the OS, reseeded in forked children), not
``secrets``: ids are unique, not secret (every read is scoped to its project), and reading the
OS's random source per row showed in profiles of bulk preparation. Secrets use ``secrets``.

Within one process ids are strictly increasing: an id minted in the same millisecond as the one
before it (or after the clock stepped back) takes the previous id's time and its random part
plus a random step, so rows created one after the other list in that order. Ids of different
processes in the same millisecond still sort at random among themselves.
"""

import os
import random
import secrets
import threading
import time
from datetime import UTC, datetime

__all__ = ["first_id_at", "new_id", "new_secret"]

_RANDOM_BITS = 80
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of this process's latest id


def _new_lock_in_child() -> None:
    # A thread of the parent may have held the lock at the fork; the child has no such thread.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def new_id(prefix: str) -> str:
    """A new id such as ``cust_019ab3c4d5e6f7...``: 48 bits of milliseconds, 80 random bits."""
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_random = _last
        if millis > last_millis:
            part = random.getrandbits(_RANDOM_BITS)
        else:  # keep this process's order; the random step keeps ids hard to guess
            millis, part = last_millis, last_random + 1 + random.getrandbits(32)
            if part >> _RANDOM_BITS:  # spent (2**48 ids in one millisecond): the next one
                millis, part = millis + 1, random.getrandbits(_RANDOM_BITS - 1)
        _last = (millis, part)
    return f"{prefix}_{millis:012x}{part:020x}"


def first_id_at(prefix: str, when: datetime) -> str:
    """A bound no greater than any id of ``prefix`` minted at or after ``when`` (naive = UTC)."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return f"{prefix}_{max(0, int(aware.timestamp() * 1000)):012x}"


def new_secret(prefix: str) -> str:
    """A high-entropy secret token (256 bits) with a readable prefix."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
