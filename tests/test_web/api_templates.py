"""Templates made over the HTTP API, for tests that need one live before they post events."""

from __future__ import annotations

import time
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]

REWARD_EMAIL = {
    "subject": "You earned {{ reward.amount | money(reward.currency) }}, {{ customer.first_name }}",
    "body_format": "mjml",
    "body": "<mjml><mj-body><mj-section><mj-column><mj-text>"
    "Thanks {{ customer.first_name }}! {{ reward.description }}: "
    "{{ reward.amount | money(reward.currency) }}.</mj-text></mj-column></mj-section>"
    "</mj-body></mjml>",
}


def published_template(
    client: Client, source: dict[str, Any], category: str = "transactional"
) -> str:
    """A template created and published over the API, as an author does; returns its id."""
    created = client.post(
        "/v1/templates",
        json={
            "name": f"reward-{time.monotonic_ns()}",
            "channel": "email",
            "category": category,
            **source,
        },
    )
    assert created.status_code == 201, created.text
    template = created.json()
    version_id = template["variants"][0]["latest_draft"]["id"]
    published = client.post(
        f"/v1/templates/{template['id']}/publish", json={"version_id": version_id}
    )
    assert published.status_code in (200, 201), published.text
    return str(template["id"])


def news_distribution(client: Client, provider: str) -> None:
    """A marketing email with an unsubscribe link, sent through ``provider`` on every
    ``news.published`` event."""
    template_id = published_template(
        client,
        category="marketing",
        source={
            "body_format": "html",
            "subject": "News",
            "body": '<p>News</p><p><a href="{{ links.unsubscribe_url }}">Unsubscribe</a></p>',
        },
    )
    created = client.post(
        "/v1/distributions",
        json={
            "name": "News",
            "trigger": "news.published",
            "channels": [{"channel": "email", "template": template_id, "provider": provider}],
        },
    )
    assert created.status_code == 201, created.text


def settled_message(client: Client) -> dict[str, Any]:
    """The project's one message, with its content, once the worker has sent or failed it."""
    deadline = time.monotonic() + 30
    while True:
        messages = client.get("/v1/messages").json()["messages"]
        settled = [m for m in messages if m["status"] not in ("queued", "sending")]
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    [message] = messages
    detail: dict[str, Any] = client.get(f"/v1/messages/{message['id']}").json()
    return detail
