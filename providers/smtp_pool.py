"""A bounded pool of open SMTP connections, reused across messages."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiosmtplib

from providers.address_guard import AddressGuard

__all__ = ["SmtpConnectionPool", "SmtpServer"]


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to connect. `password` never appears in repr."""

    host: str
    port: int
    security: str  # "starttls" | "tls" | "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None
    local_hostname: str | None = None

    def __repr__(self) -> str:
        return f"SmtpServer(host={self.host!r}, port={self.port}, security={self.security!r})"


class SmtpConnectionPool:
    """At most `size` connections; idle ones are reused, broken ones dropped.

    A connection idle longer than `idle_check_after` seconds is probed with NOOP before reuse,
    because servers close idle sessions and a failure mid-transaction would be ambiguous.
    Connections go to the addresses `guard` vetted (the host name still serves TLS).
    """

    def __init__(
        self,
        server: SmtpServer,
        *,
        size: int = 4,
        idle_check_after: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        guard: AddressGuard | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.server = server
        self.guard = guard or AddressGuard()
        self.size = size
        self._idle_check_after = idle_check_after
        self._clock = clock
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._closed = False
        self.connections_opened = 0

    async def _socket(self) -> socket.socket:
        """A TCP socket connected to a vetted address of the server.

        Raises:
            DestinationRefusedError: the server's address is not allowed.
            OSError: no address resolves or answers.
        """
        s = self.server
        loop = asyncio.get_running_loop()
        failure: OSError = OSError(f"{s.host} does not resolve")
        async with asyncio.timeout(s.timeout):
            for address in await self.guard.resolve(s.host, s.port):
                family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    await loop.sock_connect(sock, (str(address), s.port))
                except OSError as exc:
                    sock.close()
                    failure = exc
                    continue
                except BaseException:
                    sock.close()
                    raise
                return sock
        raise failure

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.server
        sock = await self._socket()
        # With a connected socket, aiosmtplib uses `hostname` only for TLS (SNI, certificate).
        client = aiosmtplib.SMTP(
            hostname=s.host,
            sock=sock,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            username=s.username,
            password=s.password,
            timeout=s.timeout,
            tls_context=s.tls_context,
            local_hostname=s.local_hostname,
        )
        self.connections_opened += 1
        try:
            await client.connect()
        except BaseException:
            with contextlib.suppress(OSError):
                sock.close()
            raise
        return client

    async def _reusable(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client, idle_since = self._idle.pop()
            if not client.is_connected:
                continue
            if self._clock() - idle_since > self._idle_check_after:
                try:
                    await client.noop()
                except aiosmtplib.SMTPException:
                    self._discard(client)
                    continue
            return client
        return None

    @staticmethod
    def _discard(client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            client.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosmtplib.SMTP]:
        """Lend a connection; it returns to the pool unless the block raised or it broke."""
        if self._closed:
            raise RuntimeError("SMTP pool is closed")
        async with self._slots:
            client = await self._reusable() or await self._connect()
            try:
                yield client
            except BaseException:
                # After an error the session state is unknown; a fresh connection is cheap.
                self._discard(client)
                raise
            if client.is_connected and not self._closed:
                self._idle.append((client, self._clock()))
            else:
                self._discard(client)

    def drop(self, client: aiosmtplib.SMTP) -> None:
        """Close a connection that must not be reused (e.g. after 421)."""
        self._discard(client)

    async def aclose(self) -> None:
        """QUIT every idle connection."""
        self._closed = True
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                self._discard(client)
