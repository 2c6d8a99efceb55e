"""Provider throughput: SMTP pooled vs one connection per message, and Twilio to its fake.

Run: .venv/bin/python -m benchmarks.providers  (or .venv/bin/python benchmarks/providers.py)
Prints a table, then one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `providers` package; the repository root must win.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from providers.message import Message  # noqa: E402
from providers.resilient import ResilientProvider  # noqa: E402
from providers.smtp import SmtpConfig, SmtpProvider  # noqa: E402
from providers.twilio import TwilioConfig, TwilioProvider  # noqa: E402
from tests.test_providers.fakes.server import serve  # noqa: E402
from tests.test_providers.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio  # noqa: E402

SMTP_MESSAGES = 2000
SMTP_POOL = 4
CONCURRENCY = 16
BASELINE_MESSAGES = 300
TWILIO_MESSAGES = 1000
TWILIO_CONCURRENCY = 16


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
    pooled = SmtpProvider("bench", config)
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
        provider = SmtpProvider("bench", config)
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


async def twilio_figures(url: str) -> dict[str, float]:
    config = TwilioConfig(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number="+15005550006", base_url=url
    )
    limits = httpx.Limits(max_connections=TWILIO_CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        provider = ResilientProvider(
            TwilioProvider("bench", config, http_client=client),
            max_concurrency=TWILIO_CONCURRENCY,
        )
        sms = [
            Message(id=f"s{i}", channel="sms", to="+14155552671", body=f"Code {i}")
            for i in range(TWILIO_MESSAGES)
        ]
        started = time.perf_counter()
        results = await asyncio.gather(*(provider.send(m) for m in sms))
        rate = TWILIO_MESSAGES / (time.perf_counter() - started)
    assert all(r.status == "queued" for r in results)
    return {"twilio_msgs_per_s": round(rate, 1), "twilio_concurrency": TWILIO_CONCURRENCY}


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with smtp_sink() as port:
        figures = asyncio.run(smtp_figures(port))
    with serve(FakeTwilio()) as url:
        figures |= asyncio.run(twilio_figures(url))
    print(f"{'measure':<34}{'value':>12}")
    print("-" * 46)
    for key, value in figures.items():
        print(f"{key:<34}{value:>12}")
    print(
        f"(SMTP: {SMTP_MESSAGES} msgs, pool {SMTP_POOL}, concurrency {CONCURRENCY}; baseline "
        f"{BASELINE_MESSAGES} msgs, one connection each; Twilio: {TWILIO_MESSAGES} msgs)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
