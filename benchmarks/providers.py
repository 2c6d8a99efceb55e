"""Provider throughput: SMTP pooled vs one connection per message, and Twilio to its fake.

Run: .venv/bin/python -m benchmarks.providers  (or .venv/bin/python benchmarks/providers.py)
Prints a table, then one JSON line of the figures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
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
from tests.test_providers.fakes.smtp_server import RecordingHandler, start_smtp_server  # noqa: E402
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


async def smtp_figures(port: int, handler: RecordingHandler) -> dict[str, float]:
    config = SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="none",
        from_email="b@example.com",
        pool_size=SMTP_POOL,
    )
    pooled = SmtpProvider("bench", config)
    pooled_rate = await run_bounded(SMTP_MESSAGES, CONCURRENCY, lambda i: pooled.send(email(i)))
    pooled_connections = pooled.pool.connections_opened
    await pooled.aclose()

    async def fresh(i: int) -> None:
        # Baseline: a new provider (and so a new connection) per message.
        provider = SmtpProvider("bench", config)
        try:
            await provider.send(email(i))
        finally:
            await provider.aclose()

    baseline_rate = await run_bounded(BASELINE_MESSAGES, CONCURRENCY, fresh)
    expected = SMTP_MESSAGES + BASELINE_MESSAGES
    assert len(handler.received) == expected, (len(handler.received), expected)
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
    handler = RecordingHandler()
    controller = start_smtp_server(handler)
    try:
        figures = asyncio.run(smtp_figures(controller.port, handler))
    finally:
        controller.stop()
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
