"""What the live pages show, made through the real ``/v1`` API of the served app: a
distribution (with a published template) and a bulk send (through
conftest's ``api_client``)."""

from __future__ import annotations

import secrets

import httpx

from tests.builders import publish_template
from tests.test_browser.conftest import Site, ok

__all__ = ["bulk_send", "distribution"]


def distribution(site: Site, api: httpx.Client, trigger: str, project_id: str | None = None) -> str:
    """A distribution named ``Welcome {trigger}`` sending a published email through capture."""
    template = publish_template(
        site.database,
        project_id or site.project_id,
        subject="Welcome aboard",
        body="<p>Glad you came</p>",
    )
    created = api.post(
        "/v1/distributions",
        json={
            "name": f"Welcome {trigger}",
            "trigger": trigger,
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
        },
    )
    return str(ok(created)["id"])


def bulk_send(
    site: Site, api: httpx.Client, delay: float, audience: int, project_id: str | None = None
) -> tuple[str, str]:
    """A bulk send of a new campaign ``Invite <tag>`` to ``audience`` new customers through
    capture, its messages going out after ``delay`` seconds; its id and the campaign's name."""
    tag = secrets.token_hex(3)
    template = publish_template(
        site.database,
        project_id or site.project_id,
        subject="Your invite",
        body="<p>{{ code.code }}</p>",
    )
    name = f"Invite {tag}"
    campaign = ok(api.post("/v1/campaigns", json={"name": name}))["id"]
    pool = ok(api.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}))["id"]
    ok(api.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": audience, "length": 12}))
    people = [f"{tag}-{i}" for i in range(audience)]
    for person in people:
        ok(api.post("/v1/customers", json={"source_id": person, "email": f"{person}@example.com"}))
    job = api.post(
        "/v1/bulk-sends",
        json={
            "campaign": campaign,
            "audience": {"customers": people},
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
            "send_delay_seconds": delay,
        },
    )
    return str(ok(job)["id"]), name
