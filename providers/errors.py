"""The error tree of the providers package.

Every error carries the provider name, the HTTP or SMTP status code when there was one, the
provider's own error code when it sent one, and a short excerpt of the response. None of them
ever carries a secret: excerpts are cut short and scrubbed of the provider's configured secrets.

The text of an error (`str()`, what a check answers and a delivery records) is our own phrase, the
status and a code that looks like one, never the excerpt: a destination may be some other
service than the provider, and its answer must not come back to whoever configured it. The
excerpt is for the operator's logs.

```
ProviderError                   base: provider, status_code, code, excerpt
├── TransientProviderError      try again later: timeouts, connection errors, 429, 5xx, SMTP 4xx
│   │                           .retry_after (seconds) from Retry-After / X-RateLimit-Reset
│   └── CircuitOpenError        the circuit breaker refuses calls for a while
├── PermanentProviderError      do not retry: auth, bad payload, invalid recipient, SMTP 5xx
├── ProviderConfigError         the configuration of a provider is invalid, or the kind unknown
├── CallbackSignatureError      an inbound status callback is not signed by a provider we know
└── CallbackFormatError         a signed status callback is not in its provider's format
```

A provider that answers "I will not deliver this one" (an opted-out number, a rejected address)
is not an error: the provider returns a `SendResult` with status `rejected` and a reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "CallbackFormatError",
    "CallbackSignatureError",
    "CircuitOpenError",
    "PermanentProviderError",
    "ProviderConfigError",
    "ProviderError",
    "TransientProviderError",
    "response_excerpt",
]

EXCERPT_LIMIT = 200
# What a provider's own error code looks like (Twilio 20003, Mandrill Invalid_Key, SMTP 5.7.1).
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")


def response_excerpt(text: str | bytes | None, *, secrets: Iterable[str | None] = ()) -> str:
    """Cut a response body to a short, single-line excerpt with known secrets masked."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    for secret in secrets:
        # Short values would mask ordinary words; real secrets are long.
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    if len(text) > EXCERPT_LIMIT:
        text = text[: EXCERPT_LIMIT - 1] + "…"
    return text


class ProviderError(Exception):
    """Base class: a provider call did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        code: str | int | None = None,
        excerpt: str = "",
    ) -> None:
        self.message = message
        self.provider = provider
        self.status_code = status_code
        # A code is read from the answer: keep it only when it cannot carry the answer's text.
        self.code = code if isinstance(code, int) or _CODE.match(code or "") else None
        self.excerpt = excerpt
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"{self.provider}: {self.message}"]
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.code is not None:
            parts.append(f"code={self.code}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self!s})"


class TransientProviderError(ProviderError):
    """Retry later: the provider was unreachable, too slow, throttling or failing."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        code: str | int | None = None,
        excerpt: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, provider=provider, status_code=status_code, code=code, excerpt=excerpt
        )
        self.retry_after = retry_after


class CircuitOpenError(TransientProviderError):
    """The circuit breaker is open: the provider is not called until the cool-down ends."""


class PermanentProviderError(ProviderError):
    """Do not retry: bad credentials, a payload the provider refuses, an invalid recipient."""


class ProviderConfigError(ProviderError):
    """The configuration of a provider is invalid, or names an unknown kind."""


class CallbackSignatureError(ProviderError):
    """An inbound status callback is unsigned, wrongly signed, or to no kind that has them."""


class CallbackFormatError(ProviderError):
    """A correctly signed status callback that is not in its provider's format."""
