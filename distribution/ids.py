"""Public identifiers: a type prefix plus a time-ordered random part.

Ids sort by creation time (the first ten characters encode milliseconds), so cursor pagination can
order by id alone and new rows land at the end of the primary-key index.
"""

import secrets
import time

__all__ = ["new_id", "new_secret"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new id such as ``cust_01hx3...``: 10 characters of time, 16 of randomness."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_encode(millis, 10)}{_encode(secrets.randbits(80), 16)}"


def new_secret(prefix: str) -> str:
    """A high-entropy secret token (256 bits) with a readable prefix."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
