"""HTTP load for the benchmarks that serve: N concurrent clients for a bounded time, or a paced
stream at a fixed rate, and the CPU time the serving process used meanwhile.

Shared by ``events.py`` and the bare Litestar floor (``floors/bare_route.py``), so ours and the
floor are driven by the very same client. Not a benchmark itself (the leading underscore keeps
it out of tests/test_benchmarks.py).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Load", "Request", "cpu_seconds", "drive", "pace", "percentile"]

#: One request: ``(session, n) -> (status, JSON body)``.
Request = Callable[[aiohttp.ClientSession, int], Awaitable[tuple[int, dict[str, Any]]]]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    """What one load phase saw."""

    requests: int = 0
    errors: int = 0
    elapsed: float = 0.0
    #: Seconds from sending each successful request to its answer.
    latencies: list[float] = field(default_factory=list)
    #: Delivery id -> wall-clock time its event's 202 arrived.
    accepted: dict[str, float] = field(default_factory=dict)
    #: CPU seconds the serving process used during the phase (its worker included).
    service_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        """Service CPU per request: unlike rates, barely moved by other load on the machine."""
        return self.service_cpu * 1000 / self.requests if self.requests else float("nan")

    def latency_ms(self, share: float) -> float:
        return percentile(self.latencies, share) * 1000 if self.latencies else float("nan")

    async def one(self, session: aiohttp.ClientSession, request: Request, n: int) -> None:
        sent = time.perf_counter()
        status, body = await request(session, n)
        if status not in (200, 201, 202):
            self.errors += 1
            return
        self.requests += 1
        self.latencies.append(time.perf_counter() - sent)
        if status == 202:
            now = time.time()
            for delivery in body.get("deliveries", ()):
                self.accepted[delivery["id"]] = now


def _session(url: str, headers: dict[str, str], clients: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        url,
        headers=headers,
        connector=aiohttp.TCPConnector(limit=clients),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def drive(
    url: str, headers: dict[str, str], seconds: float, clients: int, request: Request, pid: int
) -> Load:
    """Send ``request(session, n)`` from ``clients`` loops, each waiting for its answer, until
    time is up: the highest rate the service sustains.

    The load comes from aiohttp, not httpx: httpx's async connection pool collapses past a few
    connections (a hello-world app answers it 145 req/s at 32 connections, aiohttp 4,200), so an
    httpx generator measured itself, not the service.
    """
    load = Load()
    cpu_before = cpu_seconds(pid)
    counter = iter(range(10**9))
    start = time.perf_counter()
    stop = start + seconds

    async def client_loop(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop:
            await load.one(session, request, next(counter))

    async with _session(url, headers, clients) as session:
        await asyncio.gather(*(client_loop(session) for _ in range(clients)))
    load.elapsed = time.perf_counter() - start
    load.service_cpu = cpu_seconds(pid) - cpu_before
    return load


async def pace(
    url: str,
    headers: dict[str, str],
    seconds: float,
    rate: float,
    clients: int,
    request: Request,
    pid: int,
    *,
    first: int = 0,
) -> Load:
    """Start ``request(session, n)`` at a steady ``rate`` per second for ``seconds``, whatever
    the answers' pace (up to ``clients`` in flight): latency below saturation, which a closed
    loop at full speed cannot show (its queue is always full). ``first`` numbers the requests
    on from an earlier phase."""
    load = Load()
    cpu_before = cpu_seconds(pid)
    start = time.perf_counter()
    total = max(1, int(seconds * rate))
    async with _session(url, headers, clients) as session:
        tasks = []
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(load.one(session, request, first + n)))
        await asyncio.gather(*tasks)
    load.elapsed = time.perf_counter() - start
    load.service_cpu = cpu_seconds(pid) - cpu_before
    return load
