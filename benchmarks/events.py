"""Post events to a running service for a bounded time; measure intake and event-to-send latency.

Starts ``dm serve`` (embedded worker, SQLite) in a temporary folder, sets up ``--distributions``
distributions (default one) on the trigger, each a compiled MJML email sent through the built-in
``capture`` provider, then posts events from N concurrent clients for ``--seconds`` as fast as
they are answered: the highest rate. Then, the queue drained, it posts events at 80% of that rate
for ``--paced-seconds``: the event-to-send p99 of the target is that phase's. Latency is from the
client receiving the 202 to the delivery's ``sent_at`` (written just after the provider call
returned; both clocks are this machine's), an upper bound of the delay between an accepted event
and its provider call.

Two baselines run first, with the same clients for ``--baseline-seconds`` each:
``GET /v1/distributions`` (HTTP, the API key and one small read: the floor of any authenticated
call) and events of a type no distribution listens to (the same customer upsert and event row,
no render and no delivery). After the service stopped, the floor ``floors/bare_route.py`` runs
with the same clients: a bare Litestar app on uvicorn whose POST parses the event and inserts
one row into SQLite, and whose GET answers a constant. The JSON line's ``ours``, ``floor`` and
``ratio`` compare them: CPU per event against the bare POST's, and the per-request overhead, CPU
per authenticated GET against the bare GET's (goal: within 2x).

    .venv/bin/python benchmarks/events.py [--seconds 20] [--clients 32] [--baseline-seconds 5]
        [--paced-seconds 10] [--distributions 1]

Targets (embedded default): >= 500 events/s sustained, p99 event-to-send < 250 ms at 80% of
that rate, none lost. Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and benchmarks/providers.py would
# shadow the `providers` package (the floor imports distribution); the repository root must win.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402

from benchmarks._load import Load, Request, drive, pace, percentile  # noqa: E402
from benchmarks._service import create_project, free_port, serving  # noqa: E402
from benchmarks.floors import ratio, run_floor  # noqa: E402

MJML = (
    "<mjml><mj-head><mj-attributes><mj-text font-size='15px' /></mj-attributes></mj-head>"
    "<mj-body><mj-section><mj-column>"
    "<mj-text>Hi {{ customer.first_name }},</mj-text>"
    "<mj-text>You earned {{ reward.amount | money(reward.currency) }} for inviting a friend."
    "</mj-text><mj-button href='https://shop.example.com/r/{{ customer.id }}'>Use it</mj-button>"
    "</mj-column></mj-section></mj-body></mjml>"
)
#: The paced phase runs at this share of the highest rate the full-speed phase reached.
PACED_SHARE = 0.8


def _set_up(client: httpx.Client, distributions: int) -> None:
    """A published MJML template and ``distributions`` distributions on ``reward.granted``."""
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
    for number in range(distributions):
        client.post(
            "/v1/distributions",
            json={
                "name": f"bench-{number}",
                "trigger": "reward.granted",
                "channels": [{"channel": "email", "template": body["id"], "provider": "capture"}],
            },
        ).raise_for_status()


def event(n: int, event_type: str) -> dict[str, Any]:
    """The n-th event posted (5,000 customers in turn); the bare floor posts the same."""
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


def _post_event(event_type: str) -> Request:
    async def post(session: aiohttp.ClientSession, n: int) -> tuple[int, dict[str, Any]]:
        async with session.post("/v1/events", json=event(n, event_type)) as answer:
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


def _drain(client: httpx.Client) -> None:
    """Wait (up to a minute) until no delivery is queued or in flight."""
    deadline = time.monotonic() + 60
    while _pending(client) and time.monotonic() < deadline:
        time.sleep(0.2)


def _run_service(args: argparse.Namespace) -> tuple[dict[str, Load], dict[str, float]]:
    """Start ``dm serve``, run the baselines, the load at full speed and the paced load; each
    phase's load, and what was sent."""
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
            _set_up(client, args.distributions)

            def full_speed(seconds: float, request: Request) -> Load:
                return asyncio.run(drive(url, headers, seconds, args.clients, request, service.pid))

            phases = {
                "get": full_speed(args.baseline_seconds, _list_distributions),
                "no_op": full_speed(args.baseline_seconds, _post_event("bench.nothing_listens")),
                "events": full_speed(args.seconds, _post_event("reward.granted")),
            }
            if not phases["events"].requests:
                raise SystemExit("no event was accepted at full speed: nothing to pace")
            _drain(client)
            # Numbered on past the full-speed phase's events: every event id stays new.
            phases["paced"] = asyncio.run(
                pace(
                    url,
                    headers,
                    args.paced_seconds,
                    PACED_SHARE * phases["events"].rate,
                    args.clients,
                    _post_event("reward.granted"),
                    service.pid,
                    first=10**9,
                )
            )
            _drain(client)
            captured = _sent(client)
    return phases, captured


def _to_send_ms(load: Load, captured: dict[str, float]) -> list[float]:
    """Milliseconds from each accepted event's 202 to its delivery's ``sent_at``."""
    return [(captured[i] - at) * 1000 for i, at in load.accepted.items() if i in captured]


def _ms(values: list[float], share: float) -> float:
    return percentile(values, share) if values else float("nan")


def _phase(load: Load, unit: str) -> str:
    return (
        f"{load.rate:,.0f} {unit}/s, p99 {load.latency_ms(0.99):.1f} ms, "
        f"service CPU {load.cpu_ms:.2f} ms each"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=5.0,
        help="of each baseline phase, and of each of the bare floor's POST and GET",
    )
    parser.add_argument(
        "--paced-seconds",
        type=float,
        default=10.0,
        help="of the phase at 80%% of the highest rate, whose event-to-send p99 is the target's",
    )
    parser.add_argument(
        "--distributions", type=int, default=1, help="distributions listening to each event"
    )
    args = parser.parse_args()

    phases, captured = _run_service(args)
    # After the service stopped: the floor has the machine to itself, as the service had.
    floor = run_floor(
        "bare_route", "--seconds", str(args.baseline_seconds), "--clients", str(args.clients)
    )
    get, no_op, events, paced = phases["get"], phases["no_op"], phases["events"], phases["paced"]
    latencies = _to_send_ms(events, captured)
    paced_latencies = _to_send_ms(paced, captured)
    lost = len((events.accepted.keys() | paced.accepted.keys()) - captured.keys())
    rate = events.rate
    p50, p99 = (statistics.median(latencies) if latencies else float("nan")), _ms(latencies, 0.99)
    paced_p99 = _ms(paced_latencies, 0.99)
    met = rate >= 500 and paced_p99 < 250 and lost == 0
    ours = {
        "events_per_second": round(rate),
        "cpu_ms_per_event": round(events.cpu_ms, 3),
        "p99_at_80_percent_ms": round(paced_p99, 1),
        "get_per_second": round(get.rate),
        "cpu_ms_per_get": round(get.cpu_ms, 3),
    }
    ratios = {
        # How many times the floor's CPU an event costs us, and an authenticated GET (goal <= 2).
        "cpu_per_event": ratio(ours["cpu_ms_per_event"], floor["cpu_ms_per_post"]),
        "cpu_per_get": ratio(ours["cpu_ms_per_get"], floor["cpu_ms_per_get"]),
        # How many times faster the floor takes events in, and answers a GET.
        "events_rate": ratio(floor["post_per_second"], ours["events_per_second"]),
        "get_rate": ratio(floor["get_per_second"], ours["get_per_second"]),
    }
    rows: list[tuple[str, Any]] = [
        ("clients", args.clients),
        ("distributions per event", args.distributions),
        ("baseline GET /v1/distributions", _phase(get, "req")),
        ("baseline no-op events", _phase(no_op, "events")),
        (
            "floor: bare Litestar POST",
            f"{floor['post_per_second']:,} req/s, CPU {floor['cpu_ms_per_post']} ms each",
        ),
        (
            "floor: bare Litestar GET",
            f"{floor['get_per_second']:,} req/s, CPU {floor['cpu_ms_per_get']} ms each",
        ),
        ("seconds", f"{events.elapsed:.1f}"),
        ("events accepted", f"{events.requests:,}"),
        ("non-202 answers", events.errors + paced.errors),
        ("events accepted/s", f"{rate:,.0f}   (target >= 500)"),
        ("service CPU per event", f"{events.cpu_ms:.2f} ms (worker included)"),
        ("  of the GET baseline", f"{rate / get.rate:.2f}x" if get.rate else "-"),
        ("  of the no-op baseline", f"{rate / no_op.rate:.2f}x" if no_op.rate else "-"),
        ("  CPU, x the floor's POST", ratios["cpu_per_event"]),
        ("GET CPU, x the floor's GET", f"{ratios['cpu_per_get']}   (goal <= 2)"),
        (
            "ingest latency p50/p99",
            f"{events.latency_ms(0.5):.1f} / {events.latency_ms(0.99):.1f} ms",
        ),
        ("event-to-send p50, full speed", f"{p50:.1f} ms"),
        ("event-to-send p99, full speed", f"{p99:.1f} ms"),
        (
            f"event-to-send p99 at {PACED_SHARE * rate:,.0f}/s",
            f"{paced_p99:.1f} ms   (80% of the highest rate; target < 250 ms)",
        ),
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
                "distributions": args.distributions,
                "seconds": round(events.elapsed, 2),
                "events_accepted": events.requests,
                "events_per_second": round(rate),
                "baseline_get_per_second": round(get.rate),
                "baseline_no_op_events_per_second": round(no_op.rate),
                "cpu_ms_per_get": round(get.cpu_ms, 2),
                "cpu_ms_per_no_op_event": round(no_op.cpu_ms, 2),
                "cpu_ms_per_event": round(events.cpu_ms, 2),
                "ratio_to_get_baseline": round(rate / get.rate, 2) if get.rate else None,
                "ingest_p50_ms": round(events.latency_ms(0.5), 1),
                "ingest_p99_ms": round(events.latency_ms(0.99), 1),
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "paced_per_second": round(paced.rate),
                "paced_p99_ms": round(paced_p99, 1),
                "lost": lost,
                "errors": events.errors + paced.errors,
                "ours": ours,
                "floor": floor,
                "ratio": ratios,
            }
        )
    )


if __name__ == "__main__":
    main()
