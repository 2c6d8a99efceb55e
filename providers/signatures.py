"""Verification of inbound status callbacks: Twilio, Mandrill, and Standard Webhooks.

Each function returns True or False; the web layer answers 401 on False and changes nothing.
Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

from providers import standard_webhooks

__all__ = ["verify_bounce_webhook", "verify_mandrill_signature", "verify_twilio_signature"]

Params = Mapping[str, str | Sequence[str]]
DEFAULT_PORTS = {"https": 443, "http": 80}


def _values(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _hmac_sha1_b64(key: str, text: str) -> str:
    digest = hmac.new(key.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _with_port(url: str, *, port: bool) -> str:
    """The URL with its port removed, or with the scheme's default port added."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@" if userinfo else ""
    netloc += host
    if port:
        netloc += f":{parts.port or DEFAULT_PORTS.get(parts.scheme, 443)}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _twilio_string(url: str, params: Params) -> str:
    # Repeated keys: each name once, its distinct values sorted (as twilio-python does today).
    pieces = [url]
    for name in sorted(params):
        for value in sorted(set(_values(params[name]))):
            pieces.append(name + value)
    return "".join(pieces)


def verify_twilio_signature(
    url: str,
    params: Params,
    signature: str,
    auth_token: str,
    *,
    body: bytes | None = None,
) -> bool:
    """Check `X-Twilio-Signature` for a form POST, or for a JSON body (pass `body`).

    Args:
        url: the full URL Twilio requested, query string included.
        params: the form fields (a list of values for a repeated name); ignored for JSON.
        signature: the header value.
        auth_token: the account's Auth Token.
        body: the raw JSON body; then `bodySHA256` in the URL must match its SHA-256.
    """
    if not signature or not auth_token:
        return False
    if body is not None:
        claimed = parse_qs(urlsplit(url).query).get("bodySHA256", [""])[0]
        if not hmac.compare_digest(claimed, hashlib.sha256(body).hexdigest()):
            return False
        params = {}
    # Twilio signs sometimes with, sometimes without the port: accept either form.
    candidates = {url, _with_port(url, port=False), _with_port(url, port=True)}
    return any(
        hmac.compare_digest(_hmac_sha1_b64(auth_token, _twilio_string(u, params)), signature)
        for u in candidates
    )


def verify_mandrill_signature(url: str, params: Params, signature: str, key: str) -> bool:
    """Check `X-Mandrill-Signature`: HMAC-SHA1 of the configured URL + sorted key/value pairs.

    `url` must be the webhook URL exactly as configured in Mandrill; `key` is the webhook's own
    auth key, not the API key. Mandrill's initial unsigned HEAD request is the web layer's
    business (answer 200 without checking).
    """
    if not signature or not key:
        return False
    pieces = [url]
    for name in sorted(params):
        pieces.extend(name + value for value in _values(params[name]))
    return hmac.compare_digest(_hmac_sha1_b64(key, "".join(pieces)), signature)


def verify_bounce_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> bool:
    """Check a Standard Webhooks signed bounce report (±5 minute timestamp tolerance)."""
    return standard_webhooks.verify(secret, headers, body, now=now)
