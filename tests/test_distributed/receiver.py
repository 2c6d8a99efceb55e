"""A message receiver in a process of its own that counts calls per delivery id.

The ``webhook`` provider POSTs each message with its delivery id in the ``webhook-id`` header.
The receiver notes each arrival's time (the system-wide monotonic clock) as it is called. It runs
in its own process so that nothing in the test process (the API, polling) delays its clock
readings: a stalled receiver would bunch arrivals that the senders spread out.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from tests.test_providers.fakes.smtp_server import free_port

__all__ = ["Received", "counting_receiver"]


class _CountingApp:
    """POST: count the call and answer 200 (after ``delay`` s). GET /calls: what it counted."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.arrivals: list[float] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        arrived = time.monotonic()
        while (await receive()).get("more_body"):
            pass
        body = b""
        if scope["method"] == "GET":
            body = json.dumps({"calls": self.calls, "arrivals": self.arrivals}).encode()
        else:
            delivery_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
            self.calls[delivery_id] += 1
            self.arrivals.append(arrived)
            if self.delay:
                await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def _serve(port: int, delay: float) -> None:
    uvicorn.run(_CountingApp(delay), host="127.0.0.1", port=port, log_level="warning")


class Received:
    """The running receiver, seen from the test: its URL and what it counted so far."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = httpx.Client(base_url=url, timeout=30)

    def _state(self) -> dict[str, Any]:
        answer = self._client.get("/calls")
        answer.raise_for_status()
        state: dict[str, Any] = answer.json()
        return state

    def calls(self) -> Counter[str]:
        """Calls per delivery id."""
        return Counter(self._state()["calls"])

    def arrivals(self) -> list[float]:
        """When each call arrived (monotonic seconds)."""
        return [float(moment) for moment in self._state()["arrivals"]]

    def total(self) -> int:
        """How many calls arrived."""
        return len(self._state()["arrivals"])

    def close(self) -> None:
        self._client.close()


@contextmanager
def counting_receiver(delay: float = 0.0) -> Iterator[Received]:
    """Start the receiver process, yield it once it answers, stop it afterwards."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, delay), daemon=True
    )
    process.start()
    received = Received(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                received.total()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the receiver did not start") from None
                time.sleep(0.05)
        yield received
    finally:
        received.close()
        process.terminate()
        process.join(timeout=10)
