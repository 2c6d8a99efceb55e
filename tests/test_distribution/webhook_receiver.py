"""A receiver of our outgoing webhooks: verifies each call with the reference library.

Each ``/hooks/<name>`` path has its own secret and its own script of failures, so tests sharing
one receiver (and a database where any dispatcher may send any project's calls) never see each
other's faults.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Request:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Received:
    """A call whose signature verified."""

    webhook_id: str
    path: str
    event: dict[str, Any]


@dataclass(frozen=True)
class Scripted:
    """An answer to give instead of the normal one."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """An ASGI app; answers 204 to verified calls, 401 to the others."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.requests: list[Request] = []
        self.received: list[Received] = []
        self.refused: list[Request] = []
        self._script: dict[str, deque[Scripted]] = defaultdict(deque)
        self._lock = threading.Lock()

    def fail_next(self, path: str, *answers: Scripted) -> None:
        """Answer the next calls to ``path`` with ``answers``, in order."""
        with self._lock:
            self._script[path].extend(answers)

    def to(self, path: str) -> list[Request]:
        """Every request to ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def of_type(self, event_type: str) -> list[Received]:
        """Verified calls of one event type."""
        with self._lock:
            return [r for r in self.received if r.event["type"] == event_type]

    def _answer(self, request: Request) -> Scripted:
        with self._lock:
            self.requests.append(request)
            script = self._script.get(request.path)
            if script:
                return script.popleft()
        secret = self.secrets.get(request.path)
        if secret is None:
            return Scripted(404)
        try:
            event = Webhook(secret).verify(request.body, request.headers)
        except WebhookVerificationError:
            with self._lock:
                self.refused.append(request)
            return Scripted(401)
        with self._lock:
            self.received.append(Received(request.headers["webhook-id"], request.path, event))
        return Scripted(204)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        request = Request(
            path=scope["path"],
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=b"".join(chunks),
        )
        answer = self._answer(request)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        headers = [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
