"""Fake ActiveCampaign API v3: contact/sync, fieldValues, contactLists, the contact lookup
by email and its deletion, with the Api-Token header."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from .asgi import FakeApi, Recorded, Reply

API_TOKEN = "ac-token-0123456789abcdef"
FIELD_IDS = {"12", "13"}
LIST_IDS = {"3"}
CONTACT = re.compile(r"^/api/3/contacts/(?P<id>\d+)$")


class FakeActiveCampaign(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.values: dict[tuple[str, str], str] = {}
        # (list, contact) -> status ("1" active, "2" unsubscribed)
        self.list_status: dict[tuple[str, str], str] = {}
        self.deleted: list[str] = []

    def reset(self) -> None:
        super().reset()
        self.contacts.clear()
        self.values.clear()
        self.list_status.clear()
        self.deleted.clear()

    def handle(self, request: Recorded) -> Reply:
        if request.headers.get("api-token") != API_TOKEN:
            return Reply(403, {"message": "No Result found for Subscriber with id 0"})
        if request.path == "/api/3/users/me" and request.method == "GET":
            return Reply(200, {"user": {"id": "1", "username": "admin"}})
        if request.path == "/api/3/contacts" and request.method == "GET":
            [email] = parse_qs(request.query).get("email") or [""]
            found = [c for e, c in self.contacts.items() if e.lower() == email.lower()]
            return Reply(200, {"contacts": found, "meta": {"total": str(len(found))}})
        deleting = CONTACT.match(request.path)
        if deleting and request.method == "DELETE":
            for email, contact in list(self.contacts.items()):
                if contact["id"] == deleting["id"]:
                    del self.contacts[email]
                    self.deleted.append(email)
                    return Reply(200, {})
            return Reply(404, {"message": "No Result found for Subscriber with id"})
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
        if request.path == "/api/3/contactLists":
            entry = body.get("contactList", {})
            ids = {c["id"] for c in self.contacts.values()}
            if entry.get("contact") not in ids or entry.get("list") not in LIST_IDS:
                return Reply(422, {"errors": [{"title": "unknown contact or list"}]})
            if str(entry.get("status")) not in ("1", "2"):
                return Reply(422, {"errors": [{"title": "status must be 1 or 2"}]})
            self.list_status[(entry["list"], entry["contact"])] = str(entry["status"])
            return Reply(201, {"contactList": entry})
        return Reply(404, {"message": "Not Found"})
