"""Standard Webhooks v1 (HMAC-SHA256) signing and verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["TOLERANCE_SECONDS", "decode_secret", "sign", "verify"]

TOLERANCE_SECONDS = 5 * 60
_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key: base64 of the part after `whsec_` (padding added as the reference lib does).

    Raises:
        ValueError: the secret is not valid base64.
    """
    encoded = secret.removeprefix(_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value, `v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """True when one `v1` signature matches and the timestamp is within `tolerance` of now.

    Header names are matched case-insensitively; unknown signature versions are skipped so a
    sender can add `v1a` (ed25519) next to `v1`.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not timestamp or not signatures or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    try:
        expected = sign(secret, msg_id, int(timestamp), body).split(",", 1)[1]
    except ValueError:
        return False
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return True
    return False
