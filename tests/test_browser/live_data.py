"""What the live pages show, made through the real ``/v1`` API of the served app: an API client
of the site's project, a distribution (with a published template) and a bulk send."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from distribution.accounts.projects import create_api_key
from tests.builders import publish_template
from tests.test_browser.conftest import Site

__all__ = ["api_client", "bulk_send", "distribution", "ok"]


@contextmanager
def api_client(site: Site, project_id: str | None = None) -> Iterator[httpx.Client]:
    """An API client with a new key of the project (the site's own by default)."""
    with site.database.session() as session:
        key = create_api_key(
            session, project_id or site.project_id, name=f"browser-{secrets.token_hex(3)}"
        )
        headers = {"X-App-Id": key.key.app_id, "X-App-Token": key.token}
    with httpx.Client(base_url=site.url, headers=headers, timeout=30) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    """The JSON of a successful answer (the test fails with the body otherwise)."""
    assert response.status_code < 300, response.text
    return response.json()


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
