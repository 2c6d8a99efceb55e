"""Post events to a running service for a bounded time; measure intake and event-to-send latency.

Starts ``dm serve`` (embedded worker, SQLite) in a temporary folder, sets up one distribution
with a compiled MJML email sent through the built-in ``capture`` provider, then posts events
from N concurrent clients for ``--seconds``. Latency is from the client receiving the 202 to the
delivery's ``sent_at`` (written just after the provider call returned; both clocks are this
machine's), an upper bound of the delay between an accepted event and its provider call.

    .venv/bin/python benchmarks/events.py [--seconds 20] [--clients 32]

Targets (embedded default): >= 500 events/s sustained, p99 event-to-send < 250 ms, none lost.
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
MJML = (
    "<mjml><mj-head><mj-attributes><mj-text font-size='15px' /></mj-attributes></mj-head>"
    "<mj-body><mj-section><mj-column>"
    "<mj-text>Hi {{ customer.first_name }},</mj-text>"
    "<mj-text>You earned {{ reward.amount | money(reward.currency) }} for inviting a friend."
    "</mj-text><mj-button href='https://shop.example.com/r/{{ customer.id }}'>Use it</mj-button>"
    "</mj-column></mj-section></mj-body></mjml>"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


async def _load(
    url: str, headers: dict[str, str], seconds: float, clients: int
) -> tuple[dict[str, float], int, float]:
    """Post events until time is up; delivery id -> time its 202 arrived, errors, elapsed."""
    accepted: dict[str, float] = {}
    errors = 0
    counter = iter(range(10**9))
    start = time.perf_counter()
    stop = start + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            n = next(counter)
            answer = await client.post(
                "/v1/events",
                json={
                    "id": f"bench-{n}",
                    "type": "reward.granted",
                    "customer": {
                        "source_id": f"c{n % 5000}",
                        "email": f"c{n % 5000}@example.com",
                        "name": f"Customer {n % 5000}",
                    },
                    "reward": {"type": "credit", "amount": 1500, "currency": "EUR"},
                },
            )
            now = time.time()
            if answer.status_code != 202:
                errors += 1
                continue
            for delivery in answer.json()["deliveries"]:
                accepted[delivery["id"]] = now

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=30, limits=limits
    ) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    return accepted, errors, time.perf_counter() - start


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DM_DATA_DIR": str(data),
            "DM_PORT": str(port),
            "DATABASE_URL": f"sqlite:///{data / 'dm.sqlite3'}",
            "DM_SECRET_KEY": "benchmark-secret",
            "DM_LOG_LEVEL": "WARNING",
        }
        created = subprocess.run(
            [BIN / "dm", "projects", "create", "bench"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        headers = {}
        for line in created.splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("X-App-Id", "X-App-Token"):
                headers[name.strip()] = value.split()[0]
        log = (data / "service.log").open("wb")
        service = subprocess.Popen([BIN / "dm", "serve"], env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the service did not start")
                time.sleep(0.1)
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                _set_up(client)
                accepted, errors, elapsed = asyncio.run(
                    _load(url, headers, args.seconds, args.clients)
                )
                drain_deadline = time.monotonic() + 60
                while _pending(client) and time.monotonic() < drain_deadline:
                    time.sleep(0.2)
                captured = _sent(client)
        finally:
            service.terminate()
            service.wait(timeout=30)
            log.close()

    latencies = [(captured[i] - at) * 1000 for i, at in accepted.items() if i in captured]
    lost = len(accepted.keys() - captured.keys())
    rate = len(accepted) / elapsed
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = _percentile(latencies, 0.99) if latencies else float("nan")
    met = rate >= 500 and p99 < 250 and lost == 0
    rows: list[tuple[str, Any]] = [
        ("clients", args.clients),
        ("seconds", f"{elapsed:.1f}"),
        ("events accepted", f"{len(accepted):,}"),
        ("non-202 answers", errors),
        ("events accepted/s", f"{rate:,.0f}   (target >= 500)"),
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
                "seconds": round(elapsed, 2),
                "events_accepted": len(accepted),
                "events_per_second": round(rate),
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "lost": lost,
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
