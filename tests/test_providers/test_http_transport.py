"""The outbound HTTP client against raw TCP servers: keep-alive, the keep-alive race, bodies of
every framing, limits, timeouts, header injection and TLS name checks."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trustme
import uvloop

from providers.address_guard import AddressGuard, DestinationRefusedError
from providers.errors import TransientProviderError
from providers.http_transport import (
    MAX_ANSWER_BYTES,
    HttpError,
    HttpTimeoutError,
    guarded_client,
    request,
    retry_after_seconds,
)

from .fakes.server import serve
from .fakes.webhook_receiver import FakeReceiver

LOCAL = AddressGuard(allow_private=True)
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A raw HTTP/1.1 server: each connection is given to `handler`; requests are recorded."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        finally:
            writer.close()


@asynccontextmanager
async def serving(
    handler: Callable[[Server], Handler], tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Server, str]]:
    server = Server(lambda r, w: handler(server)(r, w))
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        listener.close()


def answering(answer: bytes, *, then_close: bool = False) -> Callable[[Server], Handler]:
    """Answer every request on a connection with `answer` (and close after the first)."""

    def handler(server: Server) -> Handler:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await server.read_request(reader) is not None:
                writer.write(answer)
                await writer.drain()
                if then_close:
                    return

        return serve

    return handler


async def test_connections_are_kept_alive_and_headers_read_in_any_case() -> None:
    async with serving(answering(OK)) as (server, url), guarded_client(LOCAL) as client:
        for _ in range(5):
            response = await client.post(url + "/send", json={"a": 1})
            assert response.status_code == 200
            assert response.json() == {"ok": True}
            assert response.headers["content-type"] == response.headers["Content-Type"]
    assert server.connections == 1
    assert client.connections_opened == 1
    assert len(server.requests) == 5
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert body == b'{"a":1}'
    assert b"content-type: application/json" in head
    assert head.startswith(b"POST /send HTTP/1.1\r\nhost: 127.0.0.1:")


async def test_a_kept_alive_connection_the_server_drops_unanswered_is_retried_once() -> None:
    def handler(server: Server) -> Handler:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(OK)
            await writer.drain()
            if server.connections == 1:
                # The keep-alive race: the next request arrives as the server closes.
                await server.read_request(reader)
                return
            while await server.read_request(reader) is not None:
                writer.write(OK)
                await writer.drain()

        return serve

    async with serving(handler) as (server, url), guarded_client(LOCAL) as client:
        assert (await client.post(url, content=b"1")).status_code == 200
        assert (await client.post(url, content=b"2")).status_code == 200
    assert server.connections == 2
    assert [r.rpartition(b"\n")[2] for r in server.requests] == [b"1", b"2", b"2"]


async def test_a_new_connection_closed_unanswered_is_a_transient_error_not_resent() -> None:
    def handler(server: Server) -> Handler:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)

        return serve

    async with serving(handler) as (server, url), guarded_client(LOCAL) as client:
        with pytest.raises(TransientProviderError, match="connection failed"):
            await request(client, "POST", url, provider="p", content=b"x")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", b"until the end"),
        (CHUNKED, b"abcdef"),
        (EARLY_HINTS + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    ],
)
async def test_bodies_of_every_framing(answer: bytes, body: bytes) -> None:
    async with (
        serving(answering(answer, then_close=True)) as (_, url),
        guarded_client(LOCAL) as client,
    ):
        response = await client.request("GET", url)
    assert (response.status_code, response.content) == (200, body)


async def test_an_answer_cut_short_is_an_error() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
    async with (
        serving(answering(cut, then_close=True)) as (_, url),
        guarded_client(LOCAL) as client,
    ):
        with pytest.raises(HttpError, match="closed the connection"):
            await client.request("GET", url)


async def test_an_answer_larger_than_the_limit_is_refused() -> None:
    size = MAX_ANSWER_BYTES + 1
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
    async with (
        serving(answering(big, then_close=True)) as (_, url),
        guarded_client(LOCAL) as client,
    ):
        with pytest.raises(HttpError, match="larger than"):
            await client.request("GET", url)


async def test_no_answer_in_time_is_a_timeout() -> None:
    def handler(server: Server) -> Handler:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            await asyncio.sleep(5)

        return serve

    async with serving(handler) as (_, url), guarded_client(LOCAL, timeout=0.2) as client:
        with pytest.raises(HttpTimeoutError, match=r"no answer within 0\.2 s"):
            await client.request("GET", url)


async def test_requests_beyond_max_connections_wait_for_a_free_one() -> None:
    async with (
        serving(answering(OK)) as (server, url),
        guarded_client(LOCAL, max_connections=2) as client,
    ):
        answers = await asyncio.gather(*(client.request("GET", url) for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    assert server.connections <= 2


@pytest.mark.parametrize(
    "headers", [{"x-note": "a\r\nx-evil: 1"}, {"x-note": "a\nb"}, {"bad name": "v"}, {"x": "\0"}]
)
async def test_a_header_that_could_smuggle_another_is_refused(headers: dict[str, str]) -> None:
    async with serving(answering(OK)) as (server, url), guarded_client(LOCAL) as client:
        with pytest.raises(HttpError, match="does not allow"):
            await client.request("POST", url, headers=headers, content=b"")
    assert server.requests == []


async def test_an_address_literal_is_vetted_before_connecting() -> None:
    async with serving(answering(OK)) as (server, url), guarded_client(AddressGuard()) as client:
        with pytest.raises(DestinationRefusedError, match="loopback"):
            await client.request("GET", url)
    assert server.connections == 0


@pytest.fixture(scope="module")
def certificates() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for `localhost` and a client context trusting its test CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_https_checks_the_url_name_not_the_address(
    certificates: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_tls, client_tls = certificates
    async with serving(answering(OK), tls=server_tls) as (server, url):
        port = url.rpartition(":")[2]
        async with guarded_client(LOCAL, tls=client_tls) as client:
            response = await client.request("GET", f"https://localhost:{port}/x")
            assert response.json() == {"ok": True}
            # The same server by address: its certificate does not name 127.0.0.1.
            with pytest.raises(HttpError, match="cannot connect"):
                await client.request("GET", f"https://127.0.0.1:{port}/x")
    assert len(server.requests) == 1


def test_a_client_moves_to_a_new_event_loop_with_new_connections() -> None:
    api = FakeReceiver()
    client = guarded_client(LOCAL)
    with serve(api) as url:
        for _ in range(2):  # each run is a new event loop; the first one's connection is gone
            answer = asyncio.run(client.request("GET", url + "/elsewhere"))
            assert answer.status_code == 404
    assert client.connections_opened == 2
    assert len(api.requests) == 2


async def test_a_head_request_is_refused_before_anything_is_sent() -> None:
    async with serving(answering(OK)) as (server, url), guarded_client(LOCAL) as client:
        with pytest.raises(HttpError, match="HEAD"):
            await client.request("HEAD", url)
    assert server.connections == 0


def test_the_client_runs_on_uvloop_as_dm_serve_does() -> None:
    api = FakeReceiver()

    async def twice(url: str) -> list[int]:
        async with guarded_client(LOCAL) as client:
            return [(await client.request("GET", url)).status_code for _ in range(2)]

    with serve(api) as url:
        assert uvloop.run(twice(url + "/elsewhere")) == [404, 404]


def test_retry_after_reads_seconds_http_dates_and_rate_limit_resets() -> None:
    """One reading for providers and outgoing webhooks; an unknown zone ("-0000") is UTC."""
    now = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert retry_after_seconds({"Retry-After": " 120 "}, now=lambda: now) == 120.0
    gmt = {"retry-after": "Tue, 14 Nov 2023 22:14:20 GMT"}
    assert retry_after_seconds(gmt, now=lambda: now) == 60.0
    unknown_zone = {"Retry-After": "Tue, 14 Nov 2023 22:14:20 -0000"}
    assert retry_after_seconds(unknown_zone, now=lambda: now) == 60.0
    assert retry_after_seconds({"X-RateLimit-Reset": str(now + 5)}, now=lambda: now) == 5.0
    assert retry_after_seconds({"Retry-After": "soon"}, now=lambda: now) is None
