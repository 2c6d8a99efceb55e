"""Fake ActiveCampaign API v3: contact/sync and fieldValues with the Api-Token header."""

from __future__ import annotations

from typing import Any

from .asgi import FakeApi, Recorded, Reply

API_TOKEN = "ac-token-0123456789abcdef"
FIELD_IDS = {"12", "13"}


class FakeActiveCampaign(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.values: dict[tuple[str, str], str] = {}

    def reset(self) -> None:
        super().reset()
        self.contacts.clear()
        self.values.clear()

    def handle(self, request: Recorded) -> Reply:
        if request.headers.get("api-token") != API_TOKEN:
            return Reply(403, {"message": "No Result found for Subscriber with id 0"})
        if request.path == "/api/3/users/me" and request.method == "GET":
            return Reply(200, {"user": {"id": "1", "username": "admin"}})
        if request.method != "POST":
            return Reply(404, {"message": "Not Found"})
        body = request.json()
        if request.path == "/api/3/contact/sync":
            contact = body.get("contact", {})
            email = contact.get("email")
            if not isinstance(email, str) or "@" not in email:
                return Reply(
                    422,
                    {"errors": [{"title": "Email address is not valid.", "code": "email_invalid"}]},
                )
            stored = self.contacts.setdefault(email, {"id": str(len(self.contacts) + 1)})
            stored.update(contact)
            return Reply(201 if len(stored) == len(contact) + 1 else 200, {"contact": stored})
        if request.path == "/api/3/fieldValues":
            value = body.get("fieldValue", {})
            ids = {c["id"] for c in self.contacts.values()}
            if value.get("contact") not in ids or value.get("field") not in FIELD_IDS:
                return Reply(422, {"errors": [{"title": "unknown contact or field"}]})
            if not isinstance(value.get("value"), str):
                return Reply(422, {"errors": [{"title": "value is required"}]})
            self.values[(value["contact"], value["field"])] = value["value"]
            return Reply(200, {"fieldValue": value})
        return Reply(404, {"message": "Not Found"})
