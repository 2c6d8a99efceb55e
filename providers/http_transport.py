"""One HTTP call to a provider's API, with transport failures mapped onto the error tree.

`guarded_client` is the HTTP client of every outbound call: its connections go through the
address guard after DNS resolution and to the vetted address only (the Host header and TLS
server name stay the URL's), so a destination cannot reach the internal network by rebinding.

The client is a small one of our own: asyncio connections kept alive in a pool, answers parsed
by httptools (llhttp, as uvicorn's). With 16 calls in flight httpx cost 2.2-3.4 ms of CPU per
call (its pool: encode/httpx#3215) and aiohttp about 0.25 ms; a provider's whole send through
this one costs 0.1-0.2 ms (docs/benchmarks.md, against raw asyncio streams in the same runs).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import email.utils
import json as jsonlib
import re
import ssl
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import certifi
import httptools

from providers.address_guard import AddressGuard, DestinationRefusedError
from providers.errors import (
    PermanentProviderError,
    TransientProviderError,
    response_excerpt,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "GuardedClient",
    "Headers",
    "HttpClientOwner",
    "HttpError",
    "HttpResponse",
    "HttpTimeoutError",
    "guarded_client",
    "json_object",
    "raise_for_status_class",
    "request",
    "retry_after_seconds",
]

#: Seconds to wait for a free connection, and then for the whole answer.
DEFAULT_TIMEOUT = 30.0
#: Seconds one TCP (and TLS) connection may take, at most.
CONNECT_TIMEOUT = 10.0
# Idle connections are closed after this long (httpx's keep-alive expiry, which providers saw).
KEEPALIVE_SECONDS = 5.0
USER_AGENT = "distribution-manager/1"
#: An answer larger than this is refused: a destination cannot fill the service's memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class HttpError(Exception):
    """No answer came: the connection failed or broke. The text names no credentials."""


class HttpTimeoutError(HttpError):
    """No connection or no answer within the timeout."""


class HttpResponse:
    """A complete answer: status, headers (case-insensitive) and the body, already read."""

    __slots__ = ("_charset", "content", "headers", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        content: bytes,
        charset: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self._charset = charset

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status_code}>"

    @property
    def text(self) -> str:
        """The body decoded by its declared charset (UTF-8 if none); bad bytes replaced."""
        try:
            return self.content.decode(self._charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not JSON."""
        return jsonlib.loads(self.content)


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
            # "-0000" (RFC 5322's unknown zone) parses as naive: HTTP dates are UTC.
            aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
            return max(0.0, aware.timestamp() - now())
    reset = lowered.get("x-ratelimit-reset")
    if reset is not None:
        try:
            reset_at = float(reset)
        except ValueError:
            return None
        return max(0.0, reset_at - now())
    return None


def raise_for_status_class(
    response: HttpResponse,
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


class Headers(Mapping[str, str]):
    """An answer's header fields, looked up case-insensitively; repeated fields joined by ", "."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: dict[str, str] = {}
        for name, value in fields:
            key = name.lower()
            self._fields[key] = f"{self._fields[key]}, {value}" if key in self._fields else value

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


def _encoded(
    content: bytes | None, data: Mapping[str, str] | None, json: Any
) -> tuple[bytes | None, str | None]:
    """The body and its content type, encoded as httpx did (compact UTF-8 JSON, a plain form)."""
    if json is not None:
        dumped = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return dumped.encode(), "application/json"
    if data is not None:
        return urlencode(list(data.items())).encode(), "application/x-www-form-urlencoded"
    return content, None


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a request goes: the connection's key, and the request line's parts."""

    scheme: str
    host: str
    port: int
    authority: str  # the Host header
    path: str  # path and query, percent-encoded

    @classmethod
    def parse(cls, url: str) -> _Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise HttpError("not a valid URL") from None
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host or not host.isascii():
            raise HttpError("not a valid URL (http or https, an ASCII host)")
        default = 443 if parts.scheme == "https" else 80
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port in (None, default) else f"{shown}:{port}"
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=_QUERY_SAFE)
        return cls(parts.scheme, host, port or default, authority, path)


# A header that could end the line early or smuggle another one (CR, LF, NUL) is refused.
_UNSAFE_HEADER = re.compile(r"[^!#$%&'*+.^_`|~0-9A-Za-z-]")
_UNSAFE_VALUE = re.compile(r"[\r\n\0]")
# What stays as written in a path or query: RFC 3986's unreserved and sub-delims, ":", "@",
# "/" and "%" (already-encoded octets are not encoded twice), as httpx left them.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


# Parsed URLs by their text: a provider calls the same few URLs again and again.
_targets: dict[str, _Target] = {}
_TARGETS_KEPT = 1024


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time.

    httptools (llhttp, which uvicorn also uses) parses the answer as bytes arrive.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.used = False  # has carried a request before (so it may have gone stale)
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[HttpResponse] | None = None
        self._timer: asyncio.TimerHandle  # the current answer's deadline, set by send()
        self._fields: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._started = False  # a byte of the current answer arrived
        self._headers_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is one without subclassing asyncio.Transport).
        self.transport = typing.cast(asyncio.Transport, transport)

    def send(self, request: bytes, limit: float) -> asyncio.Future[HttpResponse]:
        """Write one request; the future gets the whole answer, or fails after `limit` s.

        One timer per request, not `asyncio.timeout`: it costs a tenth as much CPU.
        """
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._answer = answer = loop.create_future()
        self._fields, self._body, self._size = [], [], 0
        self._started = self._headers_done = False
        self._timer = loop.call_later(limit, self._time_out, limit)
        self.transport.write(request)
        return answer

    def _time_out(self, limit: float) -> None:
        self._fail(HttpTimeoutError(f"no answer within {limit:g} s"))
        self.close()

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self._started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"not a valid HTTP answer ({exc})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is None or self._answer.done():
            return
        if self._headers_done and self._closes_body():
            self.on_message_complete()  # the body ran until the server closed the connection
            return
        stale = not self._started and self.used
        self._fail(
            _StaleConnectionError() if stale else HttpError("the server closed the connection")
        )

    def _closes_body(self) -> bool:
        """The answer has neither a length nor chunks: its body ends when the connection does."""
        names = {name.lower() for name, _ in self._fields}
        return "content-length" not in names and "transfer-encoding" not in names

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._timer.cancel()
            self._answer.set_exception(error)

    # httptools' callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_ANSWER_BYTES:
            self._fail(HttpError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes"))
            self.close()
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # an interim answer (103 Early Hints): the real one follows
            self._fields, self._body, self._size = [], [], 0
            return
        headers = Headers(self._fields)
        content_type = headers.get("content-type", "")
        charset = content_type.partition("charset=")[2].split(";")[0].strip(' "') or None
        response = HttpResponse(status, headers, b"".join(self._body), charset)
        if not self.closed and not self._parser.should_keep_alive():
            self.close()
        if self._answer is not None and not self._answer.done():
            self._timer.cancel()
            self._answer.set_result(response)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            # RuntimeError: its event loop is closed; the socket goes with the transport.
            with contextlib.suppress(RuntimeError):
                self.transport.close()


class _StaleConnectionError(HttpError):
    """A kept-alive connection was closed by the server before it answered: send again."""


class GuardedClient:
    """An HTTP/1.1 client with a keep-alive pool whose every connection passes `guard`.

    A connection is opened to the addresses `guard.resolve` vetted, never to a name: the Host
    header and the TLS server name stay the URL's. Redirects are never followed (a 3xx is an
    answer like any other), no cookies are kept (one client serves every project) and proxy
    variables of the environment are ignored: through a proxy, the proxy would resolve the
    destination and the guard could not see where the call goes. At most `max_connections`
    requests are in flight; an idle connection is closed after `KEEPALIVE_SECONDS`.
    HTTPS verifies the URL's host name against `tls` (certifi's roots by default).
    """

    def __init__(
        self,
        guard: AddressGuard,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        max_connections: int = 100,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.connect_timeout = min(timeout, connect_timeout)
        self.max_connections = max_connections
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the pool's connections' loop
        self._swept = 0.0
        self._tls = tls  # certifi's roots unless given (tests give their own CA's)
        self.connections_opened = 0

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (one call's own limit, as httpx had)
    ) -> HttpResponse:
        """Send one request and read the whole answer (any status).

        `json` or `data` (a form) or `content` is the body; `auth` is HTTP Basic. `timeout`
        bounds getting a connection, and then the answer.

        Raises:
            DestinationRefusedError: the destination is not allowed by the guard.
            HttpTimeoutError: no connection or no answer in time.
            HttpError: the connection failed or broke, or the URL is not one.
        """
        if method == "HEAD":  # its answer has a length but no body: the parser would wait
            raise HttpError("HEAD requests are not supported")
        target = _targets.get(url) or _Target.parse(url)
        if len(_targets) >= _TARGETS_KEPT:
            _targets.clear()
        _targets[url] = target
        body, content_type = _encoded(content, data, json)
        message = _request_bytes(method, target, headers, body, content_type, auth)
        limit = timeout or self.timeout
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            # First use, or another event loop (a test's, a restarted app's): connections and
            # waiters belong to the loop that made them, so that loop's pool is dropped.
            self._drop_idle()
            self._slots = asyncio.Semaphore(self.max_connections)
            self._loop = loop
        if self._slots.locked():  # every slot busy: wait, but not forever
            try:
                async with asyncio.timeout(limit):
                    await self._slots.acquire()
            except TimeoutError:
                raise HttpTimeoutError(f"no connection free within {limit:g} s") from None
        else:
            await self._slots.acquire()  # returns at once
        try:
            try:
                return await self._exchange(target, message, limit)
            except _StaleConnectionError:
                # The server closed a kept-alive connection as the request went out (the
                # keep-alive race): it saw nothing, so the request goes once more, on a new one.
                return await self._exchange(target, message, limit, fresh=True)
        finally:
            self._slots.release()

    async def _exchange(
        self, target: _Target, message: bytes, limit: float, *, fresh: bool = False
    ) -> HttpResponse:
        connection = None if fresh else self._idle_connection(target)
        if connection is None:
            connection = await self._connect(target, limit)
        done = False
        try:
            response = await connection.send(message, limit)
            done = True
        finally:
            if done and not connection.closed:
                connection.used = True
                connection.idle_since = now = time.monotonic()
                self._idle.setdefault(_key(target), []).append(connection)
                if now - self._swept > KEEPALIVE_SECONDS:
                    self._sweep(now)
            elif not done:
                connection.close()  # cancelled or failed mid-answer: its state is unknown
        return response

    def _idle_connection(self, target: _Target) -> _Connection | None:
        idle = self._idle.get(_key(target))
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.closed or now - connection.idle_since > KEEPALIVE_SECONDS:
                connection.close()
                continue
            return connection
        return None

    def _sweep(self, now: float) -> None:
        """Close the expired idle connections of every origin, also those no longer called."""
        self._swept = now
        for key, idle in list(self._idle.items()):
            kept = [c for c in idle if not c.closed and now - c.idle_since <= KEEPALIVE_SECONDS]
            for connection in idle:
                if connection not in kept:
                    connection.close()
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    async def _connect(self, target: _Target, limit: float) -> _Connection:
        """A new connection to the first vetted address of the host that answers."""
        try:
            async with asyncio.timeout(min(limit, self.connect_timeout)):
                addresses = await self.guard.resolve(target.host, target.port)
                failure: OSError | None = None
                for address in addresses:
                    try:
                        return await self._open(target, str(address))
                    except OSError as exc:  # refused, unreachable, TLS failure
                        failure = exc
        except TimeoutError:
            raise HttpTimeoutError(f"no connection within {self.connect_timeout:g} s") from None
        except OSError as exc:
            raise HttpError(f"{target.host} does not resolve ({exc})") from None
        raise HttpError(f"cannot connect to {target.authority} ({failure})")

    async def _open(self, target: _Target, address: str) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if target.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context(cafile=certifi.where())
            tls = self._tls
        _, connection = await loop.create_connection(
            _Connection,
            address,
            target.port,
            ssl=tls,
            server_hostname=target.host if tls else None,
        )
        self.connections_opened += 1
        return connection

    async def post(self, url: str, **kwargs: Any) -> HttpResponse:
        """`request("POST", url, ...)`."""
        return await self.request("POST", url, **kwargs)

    async def aclose(self) -> None:
        """Close the idle connections; the client may be used again afterwards."""
        self._drop_idle()

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _key(target: _Target) -> tuple[str, str, int]:
    return target.scheme, target.host, target.port


def _request_bytes(
    method: str,
    target: _Target,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    content_type: str | None,
    auth: tuple[str, str] | None,
) -> bytes:
    """The request's head and body. A CR or LF in a header is refused (header injection)."""
    fields = {"host": target.authority, "user-agent": USER_AGENT, "accept": "*/*"}
    if content_type is not None:
        fields["content-type"] = content_type
    for name, value in (headers or {}).items():
        fields[name.lower()] = value
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        fields["authorization"] = f"Basic {token}"
    if body is not None or method in ("POST", "PUT", "PATCH"):
        fields["content-length"] = str(len(body or b""))
    fields.pop("transfer-encoding", None)
    for name, value in fields.items():
        if _UNSAFE_HEADER.search(name) or _UNSAFE_VALUE.search(value):
            raise HttpError(f"the header {name[:40]!r} holds a character HTTP does not allow")
    head = f"{method} {target.path} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in fields.items()
    )
    try:
        encoded = head.encode("latin-1")
    except UnicodeEncodeError:
        raise HttpError("a header holds a character outside Latin-1") from None
    return encoded + b"\r\n" + (body or b"")


def guarded_client(
    guard: AddressGuard,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_connections: int = 100,
    tls: ssl.SSLContext | None = None,
) -> GuardedClient:
    """The client of every outbound call: its connections pass `guard`; no redirects."""
    return GuardedClient(guard, timeout=timeout, max_connections=max_connections, tls=tls)


async def request(
    client: GuardedClient,
    method: str,
    url: str,
    *,
    provider: str,
    **kwargs: Any,
) -> HttpResponse:
    """Send one request; timeouts and connection errors become TransientProviderError.

    Redirects are never followed: a provider API that redirects is misconfigured, and following
    would re-send credentials to another host.
    """
    try:
        return await client.request(method, url, **kwargs)
    except DestinationRefusedError as exc:
        raise PermanentProviderError(str(exc), provider=provider) from None
    except HttpTimeoutError as exc:
        raise TransientProviderError(f"timed out ({exc})", provider=provider) from None
    except HttpError as exc:
        raise TransientProviderError(f"connection failed ({exc})", provider=provider) from None


class HttpClientOwner:
    """Holds the client a provider was given, or one it created and must close.

    A created client is guarded with the strict policy: only public destinations.
    """

    def __init__(self, client: GuardedClient | None, *, timeout: float | None = None) -> None:
        self._owns_client = client is None
        self.http = client or guarded_client(AddressGuard(), timeout=timeout or DEFAULT_TIMEOUT)

    async def aclose(self) -> None:
        """Close the client only if this provider created it."""
        if self._owns_client:
            await self.http.aclose()


def json_object(response: HttpResponse) -> dict[str, Any]:
    """The response body as a JSON object, or {} when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
