"""One HTTP call to a provider's API, with transport failures mapped onto the error tree."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from providers.errors import (
    PermanentProviderError,
    TransientProviderError,
    response_excerpt,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "HttpClientOwner",
    "json_object",
    "raise_for_status_class",
    "request",
    "retry_after_seconds",
]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def retry_after_seconds(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait, from `Retry-After` (seconds or HTTP date) or `X-RateLimit-Reset` (epoch).

    Header names are matched case-insensitively (Braze sends lowercase over HTTP/2).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value is not None:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - now())
    reset = lowered.get("x-ratelimit-reset")
    if reset is not None:
        try:
            reset_at = float(reset)
        except ValueError:
            return None
        return max(0.0, reset_at - now())
    return None


def raise_for_status_class(
    response: httpx.Response,
    *,
    provider: str,
    secrets: Iterable[str | None] = (),
    code: str | int | None = None,
    message: str | None = None,
) -> None:
    """Raise by HTTP class: 429/5xx (and 408) transient, other 4xx permanent; 2xx passes."""
    status = response.status_code
    if 200 <= status < 300:
        return
    excerpt = response_excerpt(response.text, secrets=secrets)
    text = message or f"HTTP {status}"
    if status in (408, 429) or status >= 500:
        raise TransientProviderError(
            text,
            provider=provider,
            status_code=status,
            code=code,
            excerpt=excerpt,
            retry_after=retry_after_seconds(response.headers),
        )
    raise PermanentProviderError(
        text, provider=provider, status_code=status, code=code, excerpt=excerpt
    )


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; timeouts and connection errors become TransientProviderError.

    Redirects are never followed: a provider API that redirects is misconfigured, and following
    would re-send credentials to another host.
    """
    try:
        return await client.request(method, url, follow_redirects=False, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientProviderError(
            f"timed out ({type(exc).__name__})", provider=provider
        ) from None
    except httpx.TransportError as exc:
        # The exception text may contain the URL, never credentials: auth goes in headers/body.
        raise TransientProviderError(
            f"connection failed ({type(exc).__name__})", provider=provider
        ) from None


class HttpClientOwner:
    """Holds the AsyncClient a provider was given, or one it created and must close."""

    def __init__(self, client: httpx.AsyncClient | None, *, timeout: float | None = None) -> None:
        self._owns_client = client is None
        self.http = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
            if timeout
            else DEFAULT_TIMEOUT
        )

    async def aclose(self) -> None:
        """Close the client only if this provider created it."""
        if self._owns_client:
            await self.http.aclose()


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or {} when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
