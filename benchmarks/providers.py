"""Provider throughput: SMTP pooled vs one connection per message; each HTTP sender kind
(Twilio, Mandrill, Braze, webhook) against its strict fake, with a floor client in the same run.

Run: .venv/bin/python benchmarks/providers.py [--messages 3000] [--rounds 3] [--only http|smtp]
     [--httpx] [--uvloop]
Prints tables, then one JSON line of the figures.

The HTTP figures are sends per second of one client process (this one) to a fake served by
another process, 16 sends in flight, with the fake's answer checked. The floor replays the exact
request bytes the provider sent over raw asyncio keep-alive connections, alternating with the
provider in each round: the ratio of the two in one round is the figure that matters on a
shared machine. `--httpx` adds httpx's AsyncClient (the client before 2026-12-07) replaying them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `providers` package; the repository root must win.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvloop  # noqa: E402

from providers.address_guard import AddressGuard  # noqa: E402
from providers.http_transport import GuardedClient, guarded_client  # noqa: E402
from providers.message import Message  # noqa: E402
from providers.registry import build_sender  # noqa: E402
from providers.resilient import ResilientProvider  # noqa: E402
from providers.smtp import SmtpConfig, SmtpProvider  # noqa: E402
from tests.test_providers.fakes import braze, mandrill, twilio, webhook_receiver  # noqa: E402
from tests.test_providers.fakes.server import serve  # noqa: E402

SMTP_MESSAGES = 2000
SMTP_POOL = 4
CONCURRENCY = 16
BASELINE_MESSAGES = 300
HTTP_MESSAGES = 3000
HTTP_CONCURRENCY = 16
ROUNDS = 3
# The fakes listen on 127.0.0.1: the operator's setting that allows it, as in the tests.
ALLOW_LOCAL = AddressGuard(allow_private=True)


def email(i: int) -> Message:
    return Message(
        id=f"bench_{i}",
        channel="email",
        to=f"user{i}@example.com",
        subject="Your code",
        html=f"<p>Your code is <b>CODE-{i}</b></p>",
        text=f"Your code is CODE-{i}",
    )


async def run_bounded(count: int, concurrency: int, send: object) -> float:
    """Send `count` messages with at most `concurrency` in flight; messages per second."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            await send(i)  # type: ignore[operator]

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - started)


@contextmanager
def smtp_sink() -> Iterator[int]:
    """aiosmtpd's Sink in a process of its own, so the server does not share our GIL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*command, "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(10)


async def smtp_figures(port: int) -> dict[str, float]:
    config = SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="none",
        from_email="b@example.com",
        pool_size=SMTP_POOL,
    )
    pooled = SmtpProvider("bench", config, guard=ALLOW_LOCAL)
    accepted = 0

    async def send_pooled(i: int) -> None:
        nonlocal accepted
        result = await pooled.send(email(i))  # awaited first: += would read a stale total
        accepted += result.accepted

    pooled_rate = await run_bounded(SMTP_MESSAGES, CONCURRENCY, send_pooled)
    pooled_connections = pooled.pool.connections_opened
    await pooled.aclose()

    async def fresh(i: int) -> None:
        # Baseline: a new provider (and so a new connection) per message.
        nonlocal accepted
        provider = SmtpProvider("bench", config, guard=ALLOW_LOCAL)
        try:
            result = await provider.send(email(i))
            accepted += result.accepted
        finally:
            await provider.aclose()

    baseline_rate = await run_bounded(BASELINE_MESSAGES, CONCURRENCY, fresh)
    expected = SMTP_MESSAGES + BASELINE_MESSAGES
    assert accepted == expected, (accepted, expected)
    return {
        "smtp_pooled_msgs_per_s": round(pooled_rate, 1),
        "smtp_pooled_connections": pooled_connections,
        "smtp_per_message_msgs_per_s": round(baseline_rate, 1),
        "smtp_pool_speedup": round(pooled_rate / baseline_rate, 2),
    }


@dataclass(frozen=True)
class HttpKind:
    """A sender kind over HTTP, its strict fake and what one send to it looks like."""

    kind: str
    fake: str  # module:class under tests/test_providers/fakes
    path: str  # appended to the fake's base URL to make the provider's base URL
    config: Callable[[str], dict[str, Any]]
    message: Callable[[int], Message]


def _sms(i: int) -> Message:
    return Message(id=f"dlv_{i}", channel="sms", to="+14155552671", body=f"Your code is C-{i}")


HTTP_KINDS = [
    HttpKind(
        "twilio",
        "twilio:FakeTwilio",
        "",
        lambda url: {
            "account_sid": twilio.ACCOUNT_SID,
            "auth_token": twilio.AUTH_TOKEN,
            "from_number": "+15005550006",
            "base_url": url,
        },
        _sms,
    ),
    HttpKind(
        "mailchimp_transactional",
        "mandrill:FakeMandrill",
        "/api/1.3",
        lambda url: {
            "api_key": mandrill.API_KEY,
            "from_email": "rewards@example.com",
            "base_url": url,
        },
        email,
    ),
    HttpKind(
        "braze",
        "braze:FakeBraze",
        "",
        lambda url: {
            "api_key": braze.API_KEY,
            "base_url": url,
            "sms_app_id": "app-sms",
            "sms_subscription_group_id": "sg-1",
        },
        lambda i: dataclasses.replace(_sms(i), external_user_id=f"u{i}"),
    ),
    HttpKind(
        "webhook",
        "webhook_receiver:FakeReceiver",
        "/hooks/messages",
        lambda url: {"url": url, "secret": webhook_receiver.SECRET, "channels": ["sms"]},
        _sms,
    ),
]

# The fake in a process of its own (uvicorn with httptools and uvloop, as `dm serve` runs), so
# the client process measured here shares its interpreter with nothing else.
SERVE_FAKE = """
import importlib, sys, uvicorn
module, name = sys.argv[1].split(":")
app = getattr(importlib.import_module("tests.test_providers.fakes." + module), name)()
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False, lifespan="off", http="httptools", loop="uvloop")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def fake_process(fake: str) -> Iterator[str]:
    """Serve a fake API in its own process; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_FAKE, fake, str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def wait_for_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass(frozen=True)
class Wire:
    """One request exactly as a provider sent it: what the floor client replays."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def to_bytes(self, authority: str) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", f"host: {authority}"]
        lines += [f"{k}: {v}" for k, v in self.headers if k not in ("host", "content-length")]
        lines.append(f"content-length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


async def one_request(spec: HttpKind, client: GuardedClient) -> Wire:
    """The provider's first send, as the fake received it (the fake served in this process)."""
    module, name = spec.fake.split(":")
    api = getattr(importlib.import_module(f"tests.test_providers.fakes.{module}"), name)()
    with serve(api) as url:
        sender = build_sender("bench", spec.kind, spec.config(url + spec.path), http_client=client)
        result = await sender.send(spec.message(0))
        await client.aclose()  # its connection went to the in-thread fake, now stopped
    assert result.status in ("sent", "queued"), result
    seen = api.requests[0]
    target = seen.path + (f"?{seen.query}" if seen.query else "")
    return Wire(seen.method, target, list(seen.headers.items()), seen.body)


async def floor_rate(url: str, wire: Wire, count: int) -> tuple[float, float]:
    """The floor: raw asyncio streams, `HTTP_CONCURRENCY` keep-alive connections, the same
    request bytes, the answer read (Content-Length or chunked) and its JSON parsed."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    payload = wire.to_bytes(parts.netloc)
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(HTTP_CONCURRENCY):
        pool.put_nowait(await asyncio.open_connection(parts.hostname, parts.port))

    async def send(i: int) -> None:
        reader, writer = await pool.get()
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        fields = dict(
            line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
        )
        if b"content-length" in fields:
            body = await reader.readexactly(int(fields[b"content-length"]))
        else:  # chunked
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                chunks.append((await reader.readexactly(size + 2))[:-2])
            await reader.readuntil(b"\r\n")
            body = b"".join(chunks)
        assert 200 <= status < 300, (status, body)
        json.loads(body)
        pool.put_nowait((reader, writer))

    measured = await cpu_timed(count, send)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return measured


async def provider_rate(url: str, spec: HttpKind, count: int) -> tuple[float, float]:
    """The provider through the service's client, wrapped as `deliver()` wraps it."""
    client = guarded_client(ALLOW_LOCAL, max_connections=HTTP_CONCURRENCY)
    sender = build_sender("bench", spec.kind, spec.config(url + spec.path), http_client=client)
    provider = ResilientProvider(sender, max_concurrency=HTTP_CONCURRENCY)
    # Made before the clock starts: deliver() has its messages ready, and the floor makes none.
    messages = [spec.message(i) for i in range(count)]

    async def send(i: int) -> None:
        result = await provider.send(messages[i])
        assert result.status in ("sent", "queued"), result

    try:
        return await cpu_timed(count, send)
    finally:
        await client.aclose()


async def httpx_rate(url: str, wire: Wire, count: int) -> tuple[float, float]:
    """httpx's AsyncClient (the client before 2026-12-07) sending the same request."""
    headers = [(k, v) for k, v in wire.headers if k not in ("host", "content-length")]
    limits = httpx.Limits(max_connections=HTTP_CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def send(i: int) -> None:
            response = await client.request(
                wire.method, url + wire.target, headers=headers, content=wire.body
            )
            assert response.is_success, response.text
            response.json()

        return await cpu_timed(count, send)


async def cpu_timed(count: int, send: Callable[[int], Awaitable[None]]) -> tuple[float, float]:
    """`count` sends, `HTTP_CONCURRENCY` at a time: (sends per second, CPU µs per send)."""
    semaphore = asyncio.Semaphore(HTTP_CONCURRENCY)

    async def one(i: int) -> None:
        async with semaphore:
            await send(i)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(count)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return count / wall, cpu / count * 1e6


def http_figures(
    messages: int, rounds: int, with_httpx: bool, run: Callable[[Any], Any] = asyncio.run
) -> dict[str, Any]:
    """Per kind: floor and provider alternating `rounds` times, each against the same fake;
    `run` runs each on an event loop of its own (asyncio's, or uvloop's as `dm serve` has)."""
    figures: dict[str, Any] = {}
    for spec in HTTP_KINDS:
        wire = run(one_request(spec, guarded_client(ALLOW_LOCAL)))
        floor, ours, old = [], [], []
        with fake_process(spec.fake) as url:
            for _ in range(rounds):
                floor.append(run(floor_rate(url, wire, messages)))
                ours.append(run(provider_rate(url, spec, messages)))
                if with_httpx:
                    old.append(run(httpx_rate(url, wire, max(200, messages // 5))))
        ratios = [f[0] / o[0] for f, o in zip(floor, ours, strict=True)]
        figures[spec.kind] = {
            "sends_per_s": [round(o[0]) for o in ours],
            "floor_per_s": [round(f[0]) for f in floor],
            "floor_ratio": [round(r, 2) for r in ratios],
            "cpu_us_per_send": [round(o[1]) for o in ours],
            "floor_cpu_us": [round(f[1]) for f in floor],
        }
        if with_httpx:
            figures[spec.kind]["httpx_per_s"] = [round(o[0]) for o in old]
            figures[spec.kind]["httpx_cpu_us"] = [round(o[1]) for o in old]
    return figures


def print_http(figures: dict[str, Any]) -> None:
    keys = ["sends_per_s", "floor_per_s", "floor_ratio", "cpu_us_per_send", "floor_cpu_us"]
    keys += [k for k in ("httpx_per_s", "httpx_cpu_us") if k in next(iter(figures.values()))]
    print(f"{'kind':<25}" + "".join(f"{k:>22}" for k in keys))
    for kind, row in figures.items():
        print(f"{kind:<25}" + "".join(f"{'/'.join(map(str, row[k])):>22}" for k in keys))
    worst = max(r for row in figures.values() for r in row["floor_ratio"])
    slowest = min(s for row in figures.values() for s in row["sends_per_s"])
    print(
        f"(concurrency {HTTP_CONCURRENCY}, one value per round; goals: floor ratio <= 1.5 "
        f"(worst {worst}), >= 2,000 sends/s (slowest {slowest}))"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=HTTP_MESSAGES, help="HTTP sends per run")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="floor/provider alternations")
    parser.add_argument("--only", choices=["http", "smtp"], help="run one half only")
    parser.add_argument("--httpx", action="store_true", help="also replay through httpx")
    parser.add_argument(
        "--uvloop", action="store_true", help="HTTP on uvloop (dm serve's loop; dm worker: asyncio)"
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {"loop": "uvloop" if args.uvloop else "asyncio"}
    if args.only != "smtp":
        run = uvloop.run if args.uvloop else asyncio.run
        figures["http"] = http_figures(args.messages, args.rounds, args.httpx, run)
        print_http(figures["http"])
    if args.only != "http":
        with smtp_sink() as port:
            smtp = asyncio.run(smtp_figures(port))
        figures["smtp"] = smtp
        print(f"\n{'measure':<34}{'value':>12}")
        print("-" * 46)
        for key, value in smtp.items():
            print(f"{key:<34}{value:>12}")
        print(
            f"(SMTP: {SMTP_MESSAGES} msgs, pool {SMTP_POOL}, concurrency {CONCURRENCY}; "
            f"baseline {BASELINE_MESSAGES} msgs, one connection each)"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
