"""Fake Mailchimp Marketing API 3.0: members upsert by subscriber hash, their permanent
deletion, ping."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .asgi import FakeApi, Recorded, Reply

API_KEY = "0123456789abcdef0123456789abcdef-us6"
LIST_ID = "a1b2c3d4e5"
MEMBER = re.compile(
    r"^/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})(?P<delete>/actions/delete-permanent)?$"
)
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")


def problem(status: int, title: str, detail: str) -> Reply:
    return Reply(
        status,
        {
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": "00000000-0000-0000-0000-000000000000",
        },
        {"content-type": "application/problem+json"},
    )


class FakeMailchimpMarketing(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.members: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []

    def reset(self) -> None:
        super().reset()
        self.members.clear()
        self.deleted.clear()

    def handle(self, request: Recorded) -> Reply:
        auth = request.basic_auth()
        if auth is None or auth[1] != API_KEY:
            return problem(401, "API Key Invalid", "Your API key may be invalid.")
        if request.path == "/3.0/ping" and request.method == "GET":
            return Reply(200, {"health_status": "Everything's Chimpy!"})
        if request.path.startswith("/3.0/lists/") and request.method == "GET":
            if request.path != f"/3.0/lists/{LIST_ID}":
                return problem(404, "Resource Not Found", "The requested resource was not found.")
            return Reply(200, {"id": LIST_ID, "name": "Newsletter", "stats": {"member_count": 0}})
        m = MEMBER.match(request.path)
        if m is None or request.method != ("POST" if m["delete"] else "PUT"):
            return problem(404, "Resource Not Found", "The requested resource was not found.")
        if m["list"] != LIST_ID:
            return problem(404, "Resource Not Found", "The requested list was not found.")
        if m["delete"]:
            if self.members.pop(m["hash"], None) is None:
                return problem(404, "Resource Not Found", "The requested resource was not found.")
            self.deleted.append(m["hash"])
            return Reply(204)
        body = request.json()
        email = body.get("email_address")
        if not isinstance(email, str) or "@" not in email:
            return problem(400, "Invalid Resource", "email_address is required")
        if hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest() != m["hash"]:
            return problem(400, "Invalid Resource", "subscriber hash does not match the email")
        if body.get("status_if_new") not in STATUSES:
            return problem(400, "Invalid Resource", "status_if_new is required for a new member")
        if "status" in body and body["status"] not in STATUSES:
            return problem(400, "Invalid Resource", "status is not a member status")
        merge = body.get("merge_fields", {})
        if not all(isinstance(v, str) for v in merge.values()):
            return problem(400, "Invalid Resource", "merge fields must be strings")
        member = self.members.setdefault(m["hash"], {"id": m["hash"], "merge_fields": {}})
        member["email_address"] = email
        member["merge_fields"].update(merge)
        member["status"] = body.get("status") or member.get("status") or body["status_if_new"]
        return Reply(200, member)
