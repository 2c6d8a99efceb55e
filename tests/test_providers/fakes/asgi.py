"""A tiny ASGI base for provider fakes: records requests, injects faults on demand."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=False)

    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password


@dataclass
class Reply:
    """What the fake answers."""

    status: int
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            payload = self.body
        elif isinstance(self.body, str) and "content-type" not in {k.lower() for k in headers}:
            payload = self.body.encode()
            headers.setdefault("content-type", "text/plain")
        elif isinstance(self.body, str):
            payload = self.body.encode()
        else:
            payload = json.dumps(self.body).encode()
            headers.setdefault("content-type", "application/json")
        return payload, [(k.lower().encode(), v.encode()) for k, v in headers.items()]


@dataclass
class Fault:
    status: int
    body: Any
    headers: dict[str, str]
    delay: float | None


class FakeApi:
    """Subclasses implement `handle(request) -> Reply`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._faults: deque[Fault] = deque()
        self._random_faults: tuple[float, list[Fault], random.Random] | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._random_faults = None

    def fail_randomly(self, rate: float, faults: list[Fault], *, seed: int = 1) -> None:
        """From now on, answer a random `rate` of requests with one of `faults`."""
        with self._lock:
            self._random_faults = (rate, faults, random.Random(seed))

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        body: Any = b"",
        headers: dict[str, str] | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next `count` requests answer `status` (after `delay` seconds if given)."""
        with self._lock:
            for _ in range(count):
                self._faults.append(Fault(status, body, headers or {}, delay))

    def handle(self, request: Recorded) -> Reply:
        raise NotImplementedError

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            event = await receive()
            chunks.append(event.get("body", b""))
            if not event.get("more_body"):
                break
        request = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode(),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=b"".join(chunks),
        )
        with self._lock:
            self.requests.append(request)
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self._random_faults is not None:
                rate, faults, rng = self._random_faults
                fault = rng.choice(faults) if rng.random() < rate else None
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            reply = Reply(fault.status, fault.body, fault.headers)
        else:
            reply = self.handle(request)
        payload, headers = reply.encoded()
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
