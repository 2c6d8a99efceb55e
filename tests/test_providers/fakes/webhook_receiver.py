"""A webhook receiver that verifies Standard Webhooks signatures with the reference library."""

from __future__ import annotations

from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .asgi import FakeApi, Recorded, Reply

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class FakeReceiver(FakeApi):
    """Answers 401 to a request whose signature the reference library rejects."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    def reset(self) -> None:
        super().reset()
        self.events.clear()

    def handle(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != "/hooks/messages":
            return Reply(404, "not found")
        if request.headers.get("content-type") != "application/json":
            return Reply(415, "json only")
        try:
            event = Webhook(SECRET).verify(request.body, request.headers)
        except WebhookVerificationError:
            return Reply(401, {"error": "bad signature"})
        self.events.append(event)
        return Reply(200, {"id": f"rcv_{len(self.events)}"})
