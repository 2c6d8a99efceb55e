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

from distribution.models import Code
from distribution.storage.db import Database
from tests.test_distributed.workers import post_invite, prepare_invite
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
    """A started bulk send and the campaign it draws codes from."""

    job_id: str
    campaign_id: str


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


def smtp_provider(client: httpx.Client, smtp_port: int) -> str:
    """An SMTP provider ``mail`` for the plain SMTP server on ``smtp_port``; its name."""
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


def add_readers(client: httpx.Client, count: int) -> list[str]:
    """Customers ``reader-<n>`` at ``reader-<n>@example.com``, in the segment ``prepare_invite``
    sends to (metadata ``wave: one``); their source ids."""
    source_ids = [f"reader-{n}" for n in range(count)]
    for start in range(0, count, CUSTOMER_BATCH):
        rows = [
            {"source_id": s, "email": f"{s}@example.com", "metadata": {"wave": "one"}}
            for s in source_ids[start : start + CUSTOMER_BATCH]
        ]
        done = _created(client.post("/v1/customers/batch", json={"customers": rows}))
        assert done["failed"] == 0, done
    return source_ids


def start_invite(client: httpx.Client, smtp_port: int, recipients: int) -> BulkInvite:
    """A campaign with exactly enough codes, sent at once by SMTP to the readers' segment."""
    request = prepare_invite(client, smtp_provider(client, smtp_port), recipients)
    started = post_invite(client, request, recipients)
    return BulkInvite(job_id=started.job_id, campaign_id=str(request["campaign"]))


def bulk_send(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job as ``GET /v1/bulk-sends/{id}`` shows it."""
    answer = client.get(f"/v1/bulk-sends/{job_id}")
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


def assigned_codes(database: Database, campaign_id: str) -> dict[str, str]:
    """Customer id -> the code of the campaign assigned to them (read from the database: the
    API has no listing of codes)."""
    with database.reader() as session:
        rows = session.exec(
            select(Code.customer_id, Code.code).where(
                Code.campaign_id == campaign_id, Code.status == "assigned"
            )
        ).all()
    holders = [customer for customer, _ in rows]
    assert len(holders) == len(set(holders)), "a customer holds two codes of one campaign"
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
