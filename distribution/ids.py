"""Public identifiers: a type prefix plus a time-ordered random part.

Ids sort by creation time (the first ten characters encode milliseconds), so cursor pagination can
order by id alone and new rows land at the end of the primary-key index.
"""

import base64
import secrets
import time

__all__ = ["new_id", "new_secret"]

# Crockford's base32 alphabet is in ascending ASCII order, so encoded ids sort like their bytes.
_TO_CROCKFORD = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz"
)


def new_id(prefix: str) -> str:
    """A new id such as ``cust_01hx3...``: 48 bits of milliseconds, then 80 random bits."""
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + secrets.token_bytes(10)
    return f"{prefix}_{base64.b32encode(raw).decode()[:26].translate(_TO_CROCKFORD)}"


def new_secret(prefix: str) -> str:
    """A high-entropy secret token (256 bits) with a readable prefix."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
