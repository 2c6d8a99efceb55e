"""One HTTP call to a provider's API, with transport failures mapped onto the error tree.

`guarded_client` is the HTTP client of every outbound call: its connections go through the
address guard after DNS resolution and to the vetted address only (the Host header and TLS
server name stay the URL's), so a destination cannot reach the internal network by rebinding.
"""

from __future__ import annotations

import email.utils
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
import httpcore
import httpx

from providers.address_guard import AddressGuard, DestinationRefusedError
from providers.errors import (
    PermanentProviderError,
    TransientProviderError,
    response_excerpt,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "GuardedNetworkBackend",
    "HttpClientOwner",
    "guarded_client",
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
    except DestinationRefusedError as exc:
        raise PermanentProviderError(str(exc), provider=provider) from None
    except httpx.TimeoutException as exc:
        raise TransientProviderError(
            f"timed out ({type(exc).__name__})", provider=provider
        ) from None
    except httpx.TransportError as exc:
        # The exception text may contain the URL, never credentials: auth goes in headers/body.
        raise TransientProviderError(
            f"connection failed ({type(exc).__name__})", provider=provider
        ) from None


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the address guard between resolving and connecting."""

    def __init__(
        self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve and check `host`, then connect to the first vetted address that answers."""
        try:
            with anyio.fail_after(timeout):
                addresses = await self.guard.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve ({exc})") from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve() never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refused: a provider is always reached over the network."""
        raise DestinationRefusedError("must not be a local socket")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does (between connection retries)."""
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool on the guarded network backend."""

    def __init__(self, guard: AddressGuard, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx takes no network backend of its own; its pool is the documented httpcore one.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(guard),
        )


def guarded_client(
    guard: AddressGuard,
    *,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient whose every connection passes `guard`; never follows redirects.

    Proxy variables of the environment are ignored: through a proxy, the proxy would resolve
    the destination and the guard could not see where the call goes.
    """
    return httpx.AsyncClient(
        transport=_GuardedTransport(
            guard, limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        ),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


class HttpClientOwner:
    """Holds the AsyncClient a provider was given, or one it created and must close.

    A created client is guarded with the strict policy: only public destinations.
    """

    def __init__(self, client: httpx.AsyncClient | None, *, timeout: float | None = None) -> None:
        self._owns_client = client is None
        self.http = client or guarded_client(
            AddressGuard(),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
            if timeout
            else DEFAULT_TIMEOUT,
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
