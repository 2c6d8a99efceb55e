"""A bulk invite through the HTTP API to an SMTP provider, and what the SMTP sink received of it.

Used by the in-process SMTP test and by the crash test that drives ``dm serve`` as a subprocess:
both talk to the API through an ``httpx.Client`` (Litestar's TestClient is one).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
from sqlmodel import select

from distribution.db import Database
from distribution.models import Code
from tests.test_providers.fakes.smtp_server import Received

__all__ = [
    "FINAL",
    "BulkInvite",
    "add_readers",
    "assigned_codes",
    "bulk_send",
    "html_of",
    "inbox",
    "start_invite",
]

FINAL = ("completed", "cancelled", "failed")
SENDER = "invites@example.com"
CUSTOMER_BATCH = 1000


@dataclass(frozen=True)
class BulkInvite:
    """A started bulk send and the campaign and pool it draws codes from."""

    job_id: str
    campaign_id: str
    pool_id: str


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


def _smtp_provider(client: httpx.Client, smtp_port: int) -> str:
    _created(
        client.post(
            "/v1/providers",
            json={
                "name": "mail",
                "kind": "smtp",
                "config": {
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "security": "none",
                    "from_email": SENDER,
                },
            },
        )
    )
    return "mail"


def _invite_template(client: httpx.Client) -> str:
    template = _created(
        client.post(
            "/v1/templates",
            json={
                "name": "invite",
                "channel": "email",
                "category": "transactional",
                "subject": "Your invite, {{ customer.name }}",
                "body_format": "html",
                "body": "<p>Hi {{ customer.name }}, your code is {{ code.code }}.</p>",
            },
        )
    )
    draft = template["variants"][0]["latest_draft"]["id"]
    _created(client.post(f"/v1/templates/{template['id']}/publish", json={"version_id": draft}))
    return str(template["id"])


def add_readers(client: httpx.Client, count: int) -> list[str]:
    """Customers ``reader-<n>`` with addresses ``reader-<n>@example.com``; their source ids."""
    source_ids = [f"reader-{n}" for n in range(count)]
    for start in range(0, count, CUSTOMER_BATCH):
        rows = [
            {"source_id": s, "name": f"Reader {s}", "email": f"{s}@example.com"}
            for s in source_ids[start : start + CUSTOMER_BATCH]
        ]
        done = _created(client.post("/v1/customers/batch", json={"customers": rows}))
        assert done["failed"] == 0, done
    return source_ids


def start_invite(client: httpx.Client, smtp_port: int, source_ids: list[str]) -> BulkInvite:
    """A campaign with a pool of exactly enough codes, sent at once to ``source_ids`` by SMTP."""
    provider = _smtp_provider(client, smtp_port)
    template = _invite_template(client)
    campaign = _created(client.post("/v1/campaigns", json={"name": "Invite"}))["id"]
    pool = _created(client.post("/v1/code-pools", json={"campaign": campaign, "name": "main"}))
    generated = _created(
        client.post(
            f"/v1/code-pools/{pool['id']}/codes/generate",
            json={"count": len(source_ids), "length": 12},
        )
    )
    assert generated["added"] == len(source_ids), generated
    job = _created(
        client.post(
            "/v1/bulk-sends",
            json={
                "campaign": campaign,
                "audience": {"customers": source_ids},
                "channels": [{"channel": "email", "template": template, "provider": provider}],
                "send_delay_seconds": 0,
            },
        )
    )
    return BulkInvite(job_id=job["id"], campaign_id=campaign, pool_id=pool["id"])


def bulk_send(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job as ``GET /v1/bulk-sends/{id}`` shows it."""
    answer = client.get(f"/v1/bulk-sends/{job_id}")
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


def assigned_codes(database: Database, pool_id: str) -> dict[str, str]:
    """Customer id -> the code assigned to them from the pool (read from the database: the API
    has no listing of a pool's codes)."""
    with database.reader() as session:
        rows = session.exec(
            select(Code.customer_id, Code.code).where(
                Code.pool_id == pool_id, Code.status == "assigned"
            )
        ).all()
    holders = [customer for customer, _ in rows]
    assert len(holders) == len(set(holders)), "a customer holds two codes of one pool"
    return {str(customer): code for customer, code in rows}


def inbox(received: list[Received]) -> dict[str, list[EmailMessage]]:
    """The sink's messages by the address in their To header."""
    found: dict[str, list[EmailMessage]] = defaultdict(list)
    for item in received:
        message = item.message
        [to] = message["To"].addresses
        assert item.rcpt_tos == [to.addr_spec], "envelope and To header disagree"
        found[to.addr_spec].append(message)
    return dict(found)


def html_of(message: EmailMessage) -> str:
    """The HTML body of a received message."""
    part = message.get_body(("html",))
    assert isinstance(part, EmailMessage), "no HTML part"
    return str(part.get_content())
