"""Fake ActiveCampaign API v3: contact/sync, fieldValues, contactLists, the contact lookup by
email and its deletion, and the bulk contact import, with the Api-Token header.

The bulk import checks the request as the importer does (at most 250 contacts, 400,000 bytes,
each contact with an email, fields as ``{"id": <number>, "value": <text>}``), imports at once and
reports, when ``/import/info`` is asked, the ids of the contacts it created and the addresses it
did not import (an invalid address, an unknown field id).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from .asgi import FakeApi, Recorded, Reply

API_TOKEN = "ac-token-0123456789abcdef"
FIELD_IDS = {"12", "13"}
LIST_IDS = {"3"}
CONTACT = re.compile(r"^/api/3/contacts/(?P<id>\d+)$")
MAX_CONTACTS = 250
MAX_BYTES = 400_000
EMAIL = re.compile(r"[^@\s']+@[^@\s]+\.[^@\s]+")


def refused(message: str) -> Reply:
    return Reply(400, {"success": 0, "message": message, "failureReasons": [message]})


class FakeActiveCampaign(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.values: dict[tuple[str, str], str] = {}
        self.imports: dict[str, dict[str, Any]] = {}
        # Polls of /import/info answered `status: false`, then "active", before "completed".
        self.polls_before_completed = 0
        # When set, the final status of every import ("failed", "interrupted").
        self.import_status: str | None = None
        # (list, contact) -> status ("1" active, "2" unsubscribed)
        self.list_status: dict[tuple[str, str], str] = {}
        self.deleted: list[str] = []

    def reset(self) -> None:
        super().reset()
        self.contacts.clear()
        self.values.clear()
        self.imports.clear()
        self.polls_before_completed = 0
        self.import_status = None
        self.list_status.clear()
        self.deleted.clear()

    @property
    def import_sizes(self) -> list[int]:
        return [len(i["contacts"]) for i in self.imports.values()]

    def handle(self, request: Recorded) -> Reply:
        if request.headers.get("api-token") != API_TOKEN:
            return Reply(403, {"message": "No Result found for Subscriber with id 0"})
        if request.path == "/api/3/users/me" and request.method == "GET":
            return Reply(200, {"user": {"id": "1", "username": "admin"}})
        if request.path == "/api/3/import/info" and request.method == "GET":
            return self.import_info(request)
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
        if request.path == "/api/3/import/bulk_import":
            return self.bulk_import(request)
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

    def bulk_import(self, request: Recorded) -> Reply:
        if len(request.body) > MAX_BYTES:
            return refused(f"Payload size exceeds the maximum of {MAX_BYTES} bytes")
        try:
            body = request.json()
        except ValueError:
            return refused("Invalid JSON")
        contacts = body.get("contacts") if isinstance(body, dict) else None
        if not isinstance(contacts, list) or not contacts:
            return refused("contacts: an array of contacts is required")
        if len(contacts) > MAX_CONTACTS:
            return refused(f"A maximum of {MAX_CONTACTS} contacts may be imported at once")
        for n, contact in enumerate(contacts):
            if not isinstance(contact, dict) or not isinstance(contact.get("email"), str):
                return refused(f"Contact {n}: email is required")
            fields = contact.get("fields", [])
            if not isinstance(fields, list) or not all(
                isinstance(f, dict) and type(f.get("id")) is int and isinstance(f.get("value"), str)
                for f in fields
            ):
                return refused(f"Contact {n}: fields must be [{{id: number, value: text}}]")
        created: list[str] = []
        failure: list[str] = []
        for contact in contacts:
            email = contact["email"]
            ids = {str(f["id"]) for f in contact.get("fields", [])}
            if not EMAIL.fullmatch(email) or not ids <= FIELD_IDS:
                failure.append(email)
                continue
            if email not in self.contacts:
                self.contacts[email] = {"id": str(len(self.contacts) + 1), "email": email}
                created.append(self.contacts[email]["id"])
            stored = self.contacts[email]
            for ours, theirs in (
                ("first_name", "firstName"),
                ("last_name", "lastName"),
                ("phone", "phone"),
            ):
                if ours in contact:
                    stored[theirs] = contact[ours]
            for f in contact.get("fields", []):
                self.values[(stored["id"], str(f["id"]))] = f["value"]
        batch_id = f"00000000-0000-4000-8000-{len(self.imports) + 1:012x}"
        self.imports[batch_id] = {
            "contacts": contacts,
            "success": created,
            "failure": failure,
            "polls": 0,
        }
        return Reply(200, {"success": 1, "queued_contacts": len(contacts), "batchId": batch_id})

    def import_info(self, request: Recorded) -> Reply:
        [batch_id] = parse_qs(request.query).get("batchId", [""])
        found = self.imports.get(batch_id)
        if found is None:
            return Reply(404, {"message": "No Result found for Import with id " + batch_id})
        found["polls"] += 1
        if found["polls"] <= self.polls_before_completed:
            status: str | bool = False if found["polls"] == 1 else "active"
            return Reply(200, {"status": status, "success": [], "failure": []})
        final = self.import_status or "completed"
        return Reply(
            200, {"status": final, "success": found["success"], "failure": found["failure"]}
        )
