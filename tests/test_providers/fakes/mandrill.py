"""Fake Mailchimp Transactional (Mandrill) API 1.3: key in body, per-recipient statuses."""

from __future__ import annotations

import re
import secrets
from typing import Any

from .asgi import FakeApi, Recorded, Reply

API_KEY = "md-fake-transactional-key-1234"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MESSAGE_FIELDS = frozenset(
    [
        "html",
        "text",
        "subject",
        "from_email",
        "from_name",
        "to",
        "headers",
        "important",
        "track_opens",
        "track_clicks",
        "auto_text",
        "auto_html",
        "inline_css",
        "url_strip_qs",
        "preserve_recipients",
        "view_content_link",
        "bcc_address",
        "tracking_domain",
        "signing_domain",
        "return_path_domain",
        "merge",
        "merge_language",
        "global_merge_vars",
        "merge_vars",
        "tags",
        "subaccount",
        "google_analytics_domains",
        "google_analytics_campaign",
        "metadata",
        "recipient_metadata",
        "attachments",
        "images",
    ]
)


def error(name: str, message: str, code: int = -1, status: int = 500) -> Reply:
    return Reply(status, {"status": "error", "code": code, "name": name, "message": message})


def validation(message: str) -> Reply:
    return error("ValidationError", f"Validation error: {message}", code=-2)


class FakeMandrill(FakeApi):
    """Recipients whose local part starts with reject/unsub/spam/sender/invalid/queue get those
    statuses."""

    def handle(self, request: Recorded) -> Reply:
        if request.method != "POST":
            return Reply(405, "POST only")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return validation("body must be JSON")
        try:
            body = request.json()
        except ValueError:
            return validation("invalid JSON")
        if not isinstance(body, dict):
            return validation("body must be an object")
        if "key" not in body:
            return error("ValidationError", "You must specify a key value")
        if body["key"] != API_KEY:
            return error("Invalid_Key", "Invalid API key")
        if request.path == "/api/1.3/users/ping.json":
            return Reply(200, b'"PONG!"', {"content-type": "application/json"})
        if request.path != "/api/1.3/messages/send.json":
            return Reply(404, "Not found")
        return self.send(body)

    def send(self, body: dict[str, Any]) -> Reply:
        unknown_top = set(body) - {"key", "message", "async", "ip_pool", "send_at"}
        if unknown_top:
            return validation(f"unknown fields {sorted(unknown_top)}")
        message = body.get("message")
        if not isinstance(message, dict):
            return validation('{"message":"required"}')
        unknown = set(message) - MESSAGE_FIELDS
        if unknown:
            return validation(f"unknown message fields {sorted(unknown)}")
        if "from_email" in message and not EMAIL.match(str(message["from_email"])):
            return validation('{"from_email":"Not a valid email address"}')
        to = message.get("to")
        if not isinstance(to, list) or not to:
            return validation('{"to":"required"}')
        for rcpt in to:
            if not isinstance(rcpt, dict) or set(rcpt) - {"email", "name", "type"}:
                return validation('{"to":"Each recipient is {email, name, type}"}')
            if not isinstance(rcpt.get("email"), str) or not EMAIL.match(rcpt["email"]):
                return validation('{"email":"Not a valid email address"}')
            if rcpt.get("type", "to") not in ("to", "cc", "bcc"):
                return validation('{"type":"must be to, cc or bcc"}')
        headers = message.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            return validation('{"headers":"must be an object of strings"}')
        tags = message.get("tags", [])
        if not isinstance(tags, list) or any(
            not isinstance(t, str) or len(t) > 50 or t.startswith("_") for t in tags
        ):
            return validation('{"tags":"at most 50 characters, not starting with _"}')
        if not isinstance(message.get("metadata", {}), dict):
            return validation('{"metadata":"must be an object"}')
        for key in ("html", "text", "subject", "from_name"):
            if key in message and not isinstance(message[key], str):
                return validation(f'{{"{key}":"must be a string"}}')
        return Reply(200, [self.status_of(r["email"]) for r in to])

    @staticmethod
    def status_of(address: str) -> dict[str, Any]:
        local = address.split("@")[0]
        if local.startswith("reject"):
            return {"email": address, "status": "rejected", "reject_reason": "hard-bounce"}
        if local.startswith("unsub"):
            return {"email": address, "status": "rejected", "reject_reason": "unsub"}
        if local.startswith("spam"):
            return {"email": address, "status": "rejected", "reject_reason": "spam"}
        if local.startswith("sender"):
            return {"email": address, "status": "rejected", "reject_reason": "invalid-sender"}
        if local.startswith("invalid"):
            return {"email": address, "status": "invalid", "reject_reason": None}
        if local.startswith("schedule"):
            # A message sent with `send_at` (or held by Mandrill) comes back `scheduled`.
            return {"email": address, "status": "scheduled", "_id": secrets.token_hex(16)}
        if local.startswith("queue"):
            return {
                "email": address,
                "status": "queued",
                "queued_reason": "sending-backlogged",
                "_id": secrets.token_hex(16),
            }
        return {
            "email": address,
            "status": "sent",
            "reject_reason": None,
            "queued_reason": None,
            "_id": secrets.token_hex(16),
        }
