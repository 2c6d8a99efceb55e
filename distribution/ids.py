"""Public identifiers: a type prefix plus a time-ordered random part.

Ids sort by creation time (the first twelve hex digits are milliseconds), so cursor pagination
can order by id alone and new rows land at the end of the primary-key index. Hex, because it is
formatted in C: ids are minted per row in 100,000-row imports and bulk sends.

The random part comes from ``random`` (seeded from the OS, reseeded in forked children), not
``secrets``: ids are unique, not secret (every read is scoped to its project), and reading the
OS's random source per row showed in profiles of bulk preparation. Secrets use ``secrets``.
"""

import random
import secrets
import time
from datetime import UTC, datetime

__all__ = ["first_id_at", "new_id", "new_secret"]


def new_id(prefix: str) -> str:
    """A new id such as ``cust_019ab3c4d5e6f7...``: 48 bits of milliseconds, 80 random bits."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{random.getrandbits(80):020x}"


def first_id_at(prefix: str, when: datetime) -> str:
    """A bound no greater than any id of ``prefix`` minted at or after ``when`` (naive = UTC)."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return f"{prefix}_{max(0, int(aware.timestamp() * 1000)):012x}"


def new_secret(prefix: str) -> str:
    """A high-entropy secret token (256 bits) with a readable prefix."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
