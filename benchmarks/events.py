"""Post events to a running service for a bounded time; measure intake and event-to-send latency.

Starts ``dm serve`` (embedded worker, SQLite) in a temporary folder, sets up one distribution
with a compiled MJML email sent through the built-in ``capture`` provider, then posts events
from N concurrent clients for ``--seconds``. Latency is from the client receiving the 202 to the
delivery's ``sent_at`` (written just after the provider call returned; both clocks are this
machine's), an upper bound of the delay between an accepted event and its provider call.

Two baselines run first, with the same clients for ``--baseline-seconds`` each, so that the
figures can be read as ratios on a noisy machine: ``GET /v1/distributions`` (HTTP, the API key
and one small read: the floor of any authenticated call) and events of a type no distribution
listens to (the same customer upsert and event row, no render and no delivery).

    .venv/bin/python benchmarks/events.py [--seconds 20] [--clients 32] [--baseline-seconds 5]

Targets (embedded default): >= 500 events/s sustained, p99 event-to-send < 250 ms, none lost.
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from _service import create_project, free_port, serving

MJML = (
    "<mjml><mj-head><mj-attributes><mj-text font-size='15px' /></mj-attributes></mj-head>"
    "<mj-body><mj-section><mj-column>"
    "<mj-text>Hi {{ customer.first_name }},</mj-text>"
    "<mj-text>You earned {{ reward.amount | money(reward.currency) }} for inviting a friend."
    "</mj-text><mj-button href='https://shop.example.com/r/{{ customer.id }}'>Use it</mj-button>"
    "</mj-column></mj-section></mj-body></mjml>"
)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _set_up(client: httpx.Client) -> None:
    template = client.post(
        "/v1/templates",
        json={
            "name": "bench",
            "channel": "email",
            "category": "transactional",
            "subject": "Your reward, {{ customer.first_name }}",
            "body_format": "mjml",
            "body": MJML,
        },
    )
    template.raise_for_status()
    body = template.json()
    version = body["variants"][0]["latest_draft"]["id"]
    client.post(
        f"/v1/templates/{body['id']}/publish", json={"version_id": version}
    ).raise_for_status()
    client.post(
        "/v1/distributions",
        json={
            "name": "bench",
            "trigger": "reward.granted",
            "channels": [{"channel": "email", "template": body["id"], "provider": "capture"}],
        },
    ).raise_for_status()


def _event(n: int, event_type: str) -> dict[str, Any]:
    return {
        "id": f"bench-{event_type}-{n}",
        "type": event_type,
        "customer": {
            "source_id": f"c{n % 5000}",
            "email": f"c{n % 5000}@example.com",
            "name": f"Customer {n % 5000}",
        },
        "reward": {"type": "credit", "amount": 1500, "currency": "EUR"},
    }


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
    #: CPU seconds the service process used during the phase (worker included).
    service_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        """Service CPU per request: unlike rates, barely moved by other load on the machine."""
        return self.service_cpu * 1000 / self.requests if self.requests else float("nan")

    def latency_ms(self, share: float) -> float:
        return _percentile(self.latencies, share) * 1000 if self.latencies else float("nan")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Request = Callable[[aiohttp.ClientSession, int], Awaitable[tuple[int, dict[str, Any]]]]


async def _load(
    url: str,
    headers: dict[str, str],
    seconds: float,
    clients: int,
    request: Request,
    service_pid: int,
) -> Load:
    """Send ``request(session, n)`` from ``clients`` loops until time is up.

    The load comes from aiohttp, not httpx: httpx's async connection pool collapses past a few
    connections (a hello-world app answers it 145 req/s at 32 connections, aiohttp 4,200), so an
    httpx generator measured itself, not the service.
    """
    load = Load()
    cpu_before = _cpu_seconds(service_pid)
    counter = iter(range(10**9))
    start = time.perf_counter()
    stop = start + seconds

    async def client_loop(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            status, body = await request(session, next(counter))
            if status not in (200, 202):
                load.errors += 1
                continue
            load.requests += 1
            load.latencies.append(time.perf_counter() - sent)
            if status == 202:
                now = time.time()
                for delivery in body["deliveries"]:
                    load.accepted[delivery["id"]] = now

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        url, headers=headers, connector=connector, timeout=timeout
    ) as session:
        await asyncio.gather(*(client_loop(session) for _ in range(clients)))
    load.elapsed = time.perf_counter() - start
    load.service_cpu = _cpu_seconds(service_pid) - cpu_before
    return load


def _post_event(event_type: str) -> Request:
    async def post(session: aiohttp.ClientSession, n: int) -> tuple[int, dict[str, Any]]:
        async with session.post("/v1/events", json=_event(n, event_type)) as answer:
            return answer.status, await answer.json()

    return post


async def _list_distributions(
    session: aiohttp.ClientSession, _n: int
) -> tuple[int, dict[str, Any]]:
    async with session.get("/v1/distributions") as answer:
        return answer.status, await answer.json()


def _sent(client: httpx.Client) -> dict[str, float]:
    """Delivery id -> when it was recorded sent, for every sent delivery."""
    found: dict[str, float] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, "status": "sent"}
        if cursor:
            params["starting_after"] = cursor
        page = client.get("/v1/messages", params=params).json()
        for message in page["messages"]:
            found[message["id"]] = datetime.fromisoformat(message["sent_at"]).timestamp()
        cursor = page["next_cursor"]
        if not cursor:
            return found


def _pending(client: httpx.Client) -> int:
    return sum(
        len(client.get("/v1/messages", params={"status": s, "limit": 1}).json()["messages"])
        for s in ("queued", "sending")
    )


def _run_service(args: argparse.Namespace) -> tuple[Load, Load, Load, dict[str, float]]:
    """Start ``dm serve``, run the baselines and the load; the phases and what was sent."""
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DM_DATA_DIR": str(data),
            "DM_PORT": str(port),
            "DATABASE_URL": f"sqlite:///{data / 'dm.sqlite3'}",
            "DM_SECRET_KEY": "benchmark-secret",
            "DM_LOG_LEVEL": "WARNING",
        }
        headers = create_project(env)
        with (
            (data / "service.log").open("wb") as log,
            serving(env, log) as service,
            httpx.Client(base_url=url, headers=headers, timeout=60) as client,
        ):
            _set_up(client)
            floor = asyncio.run(
                _load(
                    url,
                    headers,
                    args.baseline_seconds,
                    args.clients,
                    _list_distributions,
                    service.pid,
                )
            )
            no_op = asyncio.run(
                _load(
                    url,
                    headers,
                    args.baseline_seconds,
                    args.clients,
                    _post_event("bench.nothing_listens"),
                    service.pid,
                )
            )
            events = asyncio.run(
                _load(
                    url,
                    headers,
                    args.seconds,
                    args.clients,
                    _post_event("reward.granted"),
                    service.pid,
                )
            )
            drain_deadline = time.monotonic() + 60
            while _pending(client) and time.monotonic() < drain_deadline:
                time.sleep(0.2)
            captured = _sent(client)
    return floor, no_op, events, captured


def _phase(load: Load, unit: str) -> str:
    return (
        f"{load.rate:,.0f} {unit}/s, p99 {load.latency_ms(0.99):.1f} ms, "
        f"service CPU {load.cpu_ms:.2f} ms each"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    args = parser.parse_args()

    floor, no_op, events, captured = _run_service(args)
    accepted = events.accepted
    latencies = [(captured[i] - at) * 1000 for i, at in accepted.items() if i in captured]
    lost = len(accepted.keys() - captured.keys())
    rate = events.rate
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = _percentile(latencies, 0.99) if latencies else float("nan")
    met = rate >= 500 and p99 < 250 and lost == 0
    rows: list[tuple[str, Any]] = [
        ("clients", args.clients),
        (
            "baseline GET /v1/distributions",
            f"{floor.rate:,.0f} req/s, p99 {floor.latency_ms(0.99):.1f} ms",
        ),
        (
            "baseline no-op events",
            f"{no_op.rate:,.0f} events/s, p99 {no_op.latency_ms(0.99):.1f} ms",
        ),
        ("seconds", f"{events.elapsed:.1f}"),
        ("events accepted", f"{events.requests:,}"),
        ("non-202 answers", events.errors),
        ("events accepted/s", f"{rate:,.0f}   (target >= 500)"),
        ("service CPU per event", f"{events.cpu_ms:.2f} ms (worker included)"),
        ("  of the GET baseline", f"{rate / floor.rate:.2f}x" if floor.rate else "-"),
        ("  of the no-op baseline", f"{rate / no_op.rate:.2f}x" if no_op.rate else "-"),
        (
            "ingest latency p50/p99",
            f"{events.latency_ms(0.5):.1f} / {events.latency_ms(0.99):.1f} ms",
        ),
        ("event-to-send p50", f"{p50:.1f} ms"),
        ("event-to-send p99", f"{p99:.1f} ms   (target < 250 ms)"),
        ("lost", f"{lost}   (target 0)"),
        ("targets", "met" if met else "MISSED"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(
        json.dumps(
            {
                "benchmark": "events",
                "clients": args.clients,
                "seconds": round(events.elapsed, 2),
                "events_accepted": events.requests,
                "events_per_second": round(rate),
                "baseline_get_per_second": round(floor.rate),
                "baseline_no_op_events_per_second": round(no_op.rate),
                "cpu_ms_per_get": round(floor.cpu_ms, 2),
                "cpu_ms_per_no_op_event": round(no_op.cpu_ms, 2),
                "cpu_ms_per_event": round(events.cpu_ms, 2),
                "ratio_to_get_baseline": round(rate / floor.rate, 2) if floor.rate else None,
                "ingest_p50_ms": round(events.latency_ms(0.5), 1),
                "ingest_p99_ms": round(events.latency_ms(0.99), 1),
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "lost": lost,
                "errors": events.errors,
            }
        )
    )


if __name__ == "__main__":
    main()
