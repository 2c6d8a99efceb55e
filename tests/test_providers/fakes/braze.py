"""Fake Braze REST API: /messages/send, /users/track, /users/delete and GET
/email/unsubscribes, with Braze's limits and errors."""

from __future__ import annotations

import random
import re
import secrets
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from .asgi import FakeApi, Recorded, Reply

API_KEY = "braze-rest-key-0000-1111-2222"
NAME_ADDR = re.compile(r"^[^<>]+ <[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>$")
# Braze takes `from` as JSON text: an RFC 2047 encoded word would reach the inbox literally.
ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")
#: Braze's limit of attributes (events, purchases) objects per `/users/track` request.
MAX_OBJECTS = 75
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SUBSCRIBE_STATES = ("opted_in", "unsubscribed", "subscribed")


def fatal(status: int, message: str, errors: list[str] | None = None) -> Reply:
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = errors
    return Reply(status, body)


class FakeBraze(FakeApi):
    """Validates bearer auth, ids, the email/SMS objects; records attributes per user."""

    def __init__(self) -> None:
        super().__init__()
        self.attributes: dict[str, dict[str, Any]] = {}
        # Non-fatal errors the next successful answers carry (Braze: 2xx, "success", errors).
        self.minor_errors: list[Any] = []
        # Attributes objects written per user (external_id): how often each user was written.
        self.writes: Counter[str] = Counter()
        self._flaky: tuple[float, random.Random] | None = None
        self.deleted: list[str] = []
        # What GET /email/unsubscribes lists: {"email", "unsubscribed_at" (YYYY-MM-DD...)}.
        self.unsubscribes: list[dict[str, str]] = []

    def reset(self) -> None:
        super().reset()
        self.attributes.clear()
        self.minor_errors.clear()
        self.writes.clear()
        self._flaky = None
        self.deleted.clear()
        self.unsubscribes.clear()

    def flaky(self, rate: float, *, seed: int = 1) -> None:
        """From now on answer a seeded random ``rate`` of authorised calls with Braze's
        transient failures instead of handling them: 429 `Rate Limited` with the rate-limit
        headers (reset one second on), 500 or 503. Nothing of such a call is written."""
        self._flaky = (rate, random.Random(seed))

    def _fault(self) -> Reply | None:
        if self._flaky is None:
            return None
        rate, rng = self._flaky
        if rng.random() >= rate:
            return None
        status = rng.choice((429, 500, 503))
        if status == 429:
            headers = {
                "X-RateLimit-Limit": "250000",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + 1),
            }
            return Reply(429, {"message": "Rate Limited"}, headers)
        if status == 500:
            return Reply(500, {"message": "Internal Server Error"})
        return Reply(503, "Service Unavailable")

    def success(self, body: dict[str, Any]) -> Reply:
        if self.minor_errors:
            body["errors"] = list(self.minor_errors)
        return Reply(201, body)

    def summary(self) -> dict[str, int]:
        """What was written: users, the most writes of one user, `/users/track` calls."""
        return {
            "users": len(self.writes),
            "max_writes": max(self.writes.values(), default=0),
            "calls": sum(r.path == "/users/track" for r in self.requests),
        }

    def handle(self, request: Recorded) -> Reply:
        # Not Braze's: how a benchmark reads the record of a fake served by another process.
        if request.method == "GET" and request.path == "/_fake/summary":
            return Reply(200, self.summary())
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return fatal(401, "Unauthorized")
        if request.method == "GET" and request.path == "/email/unsubscribes":
            return self.email_unsubscribes(dict(parse_qsl(request.query)))
        if request.method != "POST":
            return fatal(404, "Not Found")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return fatal(400, "Bad Request", ["content type must be application/json"])
        fault = self._fault()
        if fault is not None:
            return fault
        try:
            body = request.json()
        except ValueError:
            return fatal(400, "Bad Request")
        if request.path == "/messages/send":
            return self.send(body)
        if request.path == "/users/track":
            return self.track(body)
        if request.path == "/users/delete":
            return self.delete(body)
        return fatal(404, "Not Found")

    def delete(self, body: dict[str, Any]) -> Reply:
        """Braze: up to 50 external_ids (or aliases, braze_ids) a request; 201 with the count."""
        ids = body.get("external_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return fatal(400, "Bad Request", ["external_ids must be a list of strings"])
        if len(ids) > 50:
            return fatal(400, "Bad Request", ["at most 50 external_ids"])
        found = [i for i in ids if self.attributes.pop(i, None) is not None]
        self.deleted += ids
        return Reply(202, {"deleted": len(found), "message": "success"})

    def email_unsubscribes(self, query: dict[str, str]) -> Reply:
        """Braze: start_date and end_date (YYYY-MM-DD, both or neither with an email),
        limit 1-500 (default 100), offset; newest first."""
        start, end = query.get("start_date"), query.get("end_date")
        if not (start and end) or not all(DATE.match(d) for d in (start, end)):
            return fatal(400, "Bad Request", ["start_date and end_date (YYYY-MM-DD) are required"])
        try:
            limit = int(query.get("limit", "100"))
            offset = int(query.get("offset", "0"))
        except ValueError:
            return fatal(400, "Bad Request", ["limit and offset must be integers"])
        if not 1 <= limit <= 500 or offset < 0:
            return fatal(400, "Bad Request", ["limit must be 1-500"])
        matching = [u for u in self.unsubscribes if start <= u["unsubscribed_at"][:10] <= end]
        matching.sort(key=lambda u: u["unsubscribed_at"], reverse=True)
        return Reply(200, {"emails": matching[offset : offset + limit], "message": "success"})

    def send(self, body: dict[str, Any]) -> Reply:
        ids = body.get("external_user_ids")
        if ids is None and not body.get("broadcast") and not body.get("segment_id"):
            return fatal(400, "No Recipients")
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            return fatal(400, "Bad Request", ["external_user_ids must be a list of strings"])
        if len(ids) > 50:
            return fatal(400, "The max number of external_ids and aliases per request was exceeded")
        state = body.get("recipient_subscription_state", "subscribed")
        if state not in ("opted_in", "subscribed", "all"):
            return fatal(400, "Bad Request", ["invalid recipient_subscription_state"])
        messages = body.get("messages")
        if not isinstance(messages, dict) or not messages:
            return fatal(400, "No message to send")
        if "email" in messages:
            problem = self.check_email(messages["email"])
            if problem:
                return fatal(400, "Bad Request", [problem])
        if "sms" in messages:
            sms = messages["sms"]
            for key in ("app_id", "subscription_group_id", "body"):
                if not isinstance(sms.get(key), str) or not sms[key]:
                    return fatal(400, "Bad Request", [f"sms.{key} is required"])
        if set(messages) - {"email", "sms"}:
            return fatal(400, "Mismatched Message Type")
        return self.success({"dispatch_id": secrets.token_hex(12), "message": "success"})

    @staticmethod
    def check_email(email: dict[str, Any]) -> str | None:
        if not isinstance(email.get("app_id"), str) or not email["app_id"]:
            return "email.app_id is required"
        if not isinstance(email.get("from"), str) or not NAME_ADDR.match(email["from"]):
            return "email.from must be 'Display Name <address>'"
        if ENCODED_WORD.search(email["from"]):
            return "email.from must be plain text, not an RFC 2047 encoded word"
        if not email.get("body") and not email.get("email_template_id"):
            return "email.body is required"
        for key in ("extras", "headers"):
            value = email.get(key, {})
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                return f"email.{key} must be an object of strings"
        return None

    def track(self, body: dict[str, Any]) -> Reply:
        """Braze's `/users/track` for attributes objects: at most 75 of them; a bad object is
        skipped and named by index in a 201's `errors`, the others written; when no object is
        good the call is a fatal 400 naming them all."""
        attributes = body.get("attributes", [])
        if not isinstance(attributes, list) or len(attributes) > MAX_OBJECTS:
            return fatal(400, "Max Input Length Exceeded")
        if not attributes:
            return fatal(400, "Valid data must be provided in the 'attributes' field.")
        errors: list[Any] = []
        good: list[dict[str, Any]] = []
        for index, item in enumerate(attributes):
            problem = self.object_problem(item)
            if problem:
                errors.append({"type": problem, "input_array": "attributes", "index": index})
            else:
                good.append(item)
        if not good:
            return Reply(
                400,
                {
                    "message": "Valid data must be provided in the 'attributes' field.",
                    "errors": errors,
                },
            )
        for item in good:
            key = str(item.get("external_id") or item.get("email"))
            self.attributes.setdefault(key, {}).update(item)
            self.writes[key] += 1
        reply = self.success({"attributes_processed": len(good), "message": "success"})
        if errors:
            reply.body["errors"] = errors + list(reply.body.get("errors", []))
        return reply

    @staticmethod
    def object_problem(item: Any) -> str | None:
        """Why Braze would skip this attributes object, or None."""
        if not isinstance(item, dict):
            return "attributes object must be an object"
        # email and phone identify a user only when no id does: beside an external_id they
        # are the standard attributes they name.
        ids = [k for k in ("external_id", "user_alias", "braze_id") if k in item] or [
            k for k in ("email", "phone") if k in item
        ]
        if len(ids) != 1:
            return "'external_id' or 'braze_id' or 'user_alias' or 'email' or 'phone' is required"
        if "external_id" in item and not (
            isinstance(item["external_id"], str) and 0 < len(item["external_id"]) <= 512
        ):
            return "external_id must be a string of 1-512 characters"
        for key, value in item.items():
            # Braze: custom attribute keys up to 255 characters, never starting with "$";
            # values strings (up to 255), numbers, booleans or arrays.
            if key.startswith("$") or len(key) > 255:
                return f"invalid attribute name {key[:40]!r}"
            if isinstance(value, str) and len(value) > 255:
                return f"attribute {key!r} is too long"
            if not isinstance(value, str | int | float | bool | list):
                return f"attribute {key!r} has a bad type"
        if item.get("email_subscribe", "opted_in") not in SUBSCRIBE_STATES:
            return "email_subscribe is not a subscription state"
        return None
