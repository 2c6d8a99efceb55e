"""Fake Mailchimp Marketing API 3.0: members upsert by subscriber hash, their permanent
deletion, batches, ping.

``/3.0/batches`` runs its operations through the same member upsert as a direct call and serves
the results as a gzipped tar of JSON arrays on a "storage" URL of its own, which refuses an
Authorization header as S3 refuses one on a pre-signed URL.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import tarfile
from typing import Any

from .asgi import FakeApi, Recorded, Reply

API_KEY = "0123456789abcdef0123456789abcdef-us6"
LIST_ID = "a1b2c3d4e5"
MEMBER = re.compile(
    r"^/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})(?P<delete>/actions/delete-permanent)?$"
)
BATCH = re.compile(r"^/3\.0/batches/(?P<id>[0-9a-f]{10})$")
RESULTS = re.compile(r"^/batch-results/(?P<id>[0-9a-f]{10})\.tar\.gz$")
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
# Results per JSON file of an archive (Mailchimp splits large batches into several files).
RESULTS_PER_FILE = 200


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


def results_archive(results: list[dict[str, Any]]) -> bytes:
    """A gzipped tar of JSON arrays of operation results, as Mailchimp's storage serves it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for n, start in enumerate(range(0, max(len(results), 1), RESULTS_PER_FILE)):
            data = json.dumps(results[start : start + RESULTS_PER_FILE]).encode()
            info = tarfile.TarInfo(f"{n:032x}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FakeMailchimpMarketing(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.members: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        # Status polls a batch answers "started" to before "finished".
        self.polls_before_finished = 0
        # When set, served instead of the results archive (hostile storage).
        self.results_override: bytes | None = None
        # When set, the HTTP status every batch status poll answers (429, 5xx).
        self.poll_fault: int | None = None
        # When set, (rate, status, generator): that share of a batch's operations fails.
        self.operation_faults: tuple[float, int, random.Random] | None = None
        self.deleted: list[str] = []

    def reset(self) -> None:
        super().reset()
        self.members.clear()
        self.batches.clear()
        self.polls_before_finished = 0
        self.results_override = None
        self.poll_fault = None
        self.operation_faults = None
        self.deleted.clear()

    def fail_operations_randomly(self, rate: float, status: int, *, seed: int = 1) -> None:
        """From now on, answer a random ``rate`` of batch operations with ``status``."""
        self.operation_faults = (rate, status, random.Random(seed))

    def handle(self, request: Recorded) -> Reply:
        results = RESULTS.match(request.path)
        if results is not None and request.method == "GET":
            return self.results(request, results["id"])
        auth = request.basic_auth()
        if auth is None or auth[1] != API_KEY:
            return problem(401, "API Key Invalid", "Your API key may be invalid.")
        if request.path == "/3.0/ping" and request.method == "GET":
            return Reply(200, {"health_status": "Everything's Chimpy!"})
        if request.path == "/3.0/batches" and request.method == "POST":
            return self.create_batch(request)
        batch = BATCH.match(request.path)
        if batch is not None and request.method == "GET":
            return self.batch_status(request, batch["id"])
        if request.path.startswith("/3.0/lists/") and request.method == "GET":
            if request.path != f"/3.0/lists/{LIST_ID}":
                return problem(404, "Resource Not Found", "The requested resource was not found.")
            return Reply(200, {"id": LIST_ID, "name": "Newsletter", "stats": {"member_count": 0}})
        deleting = MEMBER.match(request.path)
        if deleting and deleting["delete"] and request.method == "POST":
            return self.delete(deleting["list"], deleting["hash"])
        if request.method != "PUT":
            return problem(404, "Resource Not Found", "The requested resource was not found.")
        return self.upsert(request.path, request.json())

    def upsert(self, path: str, body: Any) -> Reply:
        """PUT /3.0/lists/{list}/members/{hash}: create (status_if_new) or update the member."""
        m = MEMBER.match(path)
        if m is None or m["delete"]:
            return problem(404, "Resource Not Found", "The requested resource was not found.")
        if m["list"] != LIST_ID:
            return problem(404, "Resource Not Found", "The requested list was not found.")
        if not isinstance(body, dict):
            return problem(
                400, "Invalid Resource", "The resource submitted could not be validated."
            )

        email = body.get("email_address")
        if not isinstance(email, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            return problem(400, "Invalid Resource", "Please provide a valid email address.")
        if hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest() != m["hash"]:
            return problem(400, "Invalid Resource", "subscriber hash does not match the email")
        new = m["hash"] not in self.members
        if "status" in body and body["status"] not in STATUSES:
            return problem(400, "Invalid Resource", "status is not a valid status")
        if new and "status" not in body and body.get("status_if_new") not in STATUSES:
            return problem(400, "Invalid Resource", "status_if_new is required for a new member")
        merge = body.get("merge_fields", {})
        if not all(isinstance(v, str) for v in merge.values()):
            return problem(400, "Invalid Resource", "merge fields must be strings")
        member = self.members.setdefault(m["hash"], {"id": m["hash"], "merge_fields": {}})
        if new:
            member["status"] = body.get("status", body.get("status_if_new"))
        elif "status" in body:
            member["status"] = body["status"]
        member["email_address"] = email
        member["merge_fields"].update(merge)
        return Reply(200, member)

    def delete(self, list_id: str, member: str) -> Reply:
        """POST .../members/{hash}/actions/delete-permanent: 204, or 404 for no such member."""
        if list_id != LIST_ID or self.members.pop(member, None) is None:
            return problem(404, "Resource Not Found", "The requested resource was not found.")
        self.deleted.append(member)
        return Reply(204)

    def create_batch(self, request: Recorded) -> Reply:
        """POST /3.0/batches: the operations run at once, reported when polled."""
        try:
            body = request.json()
        except ValueError:
            return problem(400, "JSON Parse Error", "We encountered an unspecified JSON error.")
        operations = body.get("operations") if isinstance(body, dict) else None
        if not isinstance(operations, list) or not operations:
            return problem(400, "Invalid Resource", "operations: an array is required")
        results = []
        for op in operations:
            if (
                not isinstance(op, dict)
                or op.get("method") not in ("GET", "POST", "PUT", "PATCH", "DELETE")
                or not isinstance(op.get("path"), str)
                or not isinstance(op.get("body", ""), str)
                or not isinstance(op.get("operation_id", ""), str)
            ):
                return problem(400, "Invalid Resource", "an operation is not valid")
            # Operation paths are relative to the API root (/3.0).
            faults = self.operation_faults
            if faults is not None and faults[2].random() < faults[0]:
                reply = problem(faults[1], "Too Many Requests", "Please try again later.")
            elif op["method"] == "PUT":
                try:
                    reply = self.upsert("/3.0" + op["path"], json.loads(op.get("body") or "null"))
                except ValueError:
                    reply = problem(400, "JSON Parse Error", "the operation body is not JSON")
            else:
                reply = problem(405, "Method Not Allowed", "The requested method is not allowed.")
            results.append(
                {
                    "status_code": reply.status,
                    "operation_id": op.get("operation_id"),
                    "response": json.dumps(reply.body),
                }
            )
        batch_id = f"{len(self.batches) + 1:010x}"
        errored = sum(1 for r in results if r["status_code"] >= 400)
        self.batches[batch_id] = {
            "results": results,
            "polls": 0,
            "errored": errored,
            "host": request.headers.get("host", ""),
        }
        return Reply(200, self.status_body(batch_id, "pending"))

    def status_body(self, batch_id: str, status: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        done = status == "finished"
        total = len(batch["results"])
        return {
            "id": batch_id,
            "status": status,
            "total_operations": total,
            "finished_operations": total if done else 0,
            "errored_operations": batch["errored"] if done else 0,
            "submitted_at": "2026-12-07T14:00:00+00:00",
            "completed_at": "2026-12-07T14:00:05+00:00" if done else "",
            "response_body_url": (
                f"http://{batch['host']}/batch-results/{batch_id}.tar.gz" if done else ""
            ),
        }

    def batch_status(self, request: Recorded, batch_id: str) -> Reply:
        batch = self.batches.get(batch_id)
        if batch is None:
            return problem(404, "Resource Not Found", "The requested resource was not found.")
        if self.poll_fault is not None:
            return problem(self.poll_fault, "Service Unavailable", "Please try again later.")
        batch["polls"] += 1
        finished = batch["polls"] > self.polls_before_finished
        return Reply(200, self.status_body(batch_id, "finished" if finished else "started"))

    def results(self, request: Recorded, batch_id: str) -> Reply:
        # A pre-signed storage URL: S3 refuses a second authentication mechanism.
        if "authorization" in request.headers:
            return Reply(
                400,
                "<Error><Code>InvalidArgument</Code></Error>",
                {"content-type": "application/xml"},
            )
        batch = self.batches.get(batch_id)
        if batch is None:
            return Reply(
                404, "<Error><Code>NoSuchKey</Code></Error>", {"content-type": "application/xml"}
            )
        if self.results_override is not None:
            return Reply(200, self.results_override, {"content-type": "application/x-gzip"})
        return Reply(200, results_archive(batch["results"]), {"content-type": "application/x-gzip"})
