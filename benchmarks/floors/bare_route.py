"""Floor of an HTTP call: a bare Litestar app on uvicorn, with nothing of ours in the way.

``POST /events`` parses the JSON body and inserts one row into SQLite (WAL, our connection
pragmas): the least an accepted event costs. ``GET /ping`` answers a small JSON object: the
least any GET costs, against which our authenticated GET's overhead is read. Served the way ``dm
serve`` serves (``uvicorn.run`` with its defaults: uvloop and httptools) in a process of its
own, driven by the same clients as ``events.py`` (``benchmarks/_load.py``); reports requests per
second and the server's CPU milliseconds per request.

    .venv/bin/python benchmarks/floors/bare_route.py [--seconds 5] [--clients 32]

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[0] = str(Path(__file__).resolve().parent.parent.parent)

import aiohttp  # noqa: E402
import httpx  # noqa: E402
from litestar import Litestar, get, post  # noqa: E402

from benchmarks._load import drive  # noqa: E402
from benchmarks._service import free_port  # noqa: E402
from benchmarks.events import event  # noqa: E402
from distribution.storage.db import _sqlite_pragmas  # noqa: E402

__all__ = ["app", "measure", "serving"]


def app(database: Path) -> Litestar:
    """The bare app: one insert per event, one constant answer per GET."""
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    # The service's own connection pragmas (WAL, synchronous=NORMAL): the same durability.
    _sqlite_pragmas(connection, None)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS event (id TEXT PRIMARY KEY, type TEXT, body TEXT)"
    )

    @post("/events", status_code=202)
    async def receive(data: dict[str, Any]) -> dict[str, str]:
        connection.execute(
            "INSERT INTO event VALUES (?, ?, ?)", (data["id"], data["type"], json.dumps(data))
        )
        return {"id": data["id"]}

    @get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return Litestar([receive, ping])


@contextmanager
def serving(folder: Path) -> Iterator[tuple[str, int]]:
    """The bare app served in a process of its own: (its URL, its pid)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--database", str(folder / "bare.db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the bare Litestar app did not start")
            time.sleep(0.1)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(10)


async def _post(session: aiohttp.ClientSession, n: int) -> tuple[int, dict[str, Any]]:
    async with session.post("/events", json=event(n, "reward.granted")) as answer:
        return answer.status, await answer.json()


async def _ping(session: aiohttp.ClientSession, _n: int) -> tuple[int, dict[str, Any]]:
    async with session.get("/ping") as answer:
        return answer.status, await answer.json()


def measure(seconds: float, clients: int) -> dict[str, Any]:
    """Drive the bare app's POST, then its GET, for ``seconds`` each; the figures."""
    with tempfile.TemporaryDirectory() as folder, serving(Path(folder)) as (url, pid):
        posts = asyncio.run(drive(url, {}, seconds, clients, _post, pid))
        gets = asyncio.run(drive(url, {}, seconds, clients, _ping, pid))
    return {
        "floor": "bare_route",
        "clients": clients,
        "post_per_second": round(posts.rate),
        "cpu_ms_per_post": round(posts.cpu_ms, 3),
        "post_p99_ms": round(posts.latency_ms(0.99), 1),
        "get_per_second": round(gets.rate),
        "cpu_ms_per_get": round(gets.cpu_ms, 3),
        "get_p99_ms": round(gets.latency_ms(0.99), 1),
        "errors": posts.errors + gets.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="of each of POST and GET")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvicorn

        uvicorn.run(app(args.database), host="127.0.0.1", port=args.serve, log_level="warning")
        return
    figures = measure(args.seconds, args.clients)
    for key, value in figures.items():
        print(f"{key:<16}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
