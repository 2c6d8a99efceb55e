"""Unsubscribe links apply to the consent they were issued under, and for a limited time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.customers.consent import unsubscribe_token
from distribution.models import utcnow
from tests.conftest import ProjectCredentials
from tests.test_web.api_templates import news_distribution

Client = TestClient[Litestar]
EVENT = {
    "type": "news.published",
    "customer": {"source_id": "reader-1", "email": "reader-1@example.com", "name": "Ria"},
}
ONE_CLICK = {
    "content": "List-Unsubscribe=One-Click",
    # RFC 8058: the mail client's POST carries no cookies or credentials.
    "headers": {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-App-Id": "",
        "X-App-Token": "",
    },
}


def _newsletter(client: Client) -> str:
    """A marketing distribution of news to email; the customer's id."""
    news_distribution(client, "capture")
    _news(client)  # creates the customer
    return str(client.get("/v1/customers/reader-1").json()["id"])


def _news(client: Client) -> tuple[str, str | None]:
    """Send the news: the delivery's status and the path of its unsubscribe link."""
    answer = client.post("/v1/events", json=EVENT)
    assert answer.status_code == 202, answer.text
    [delivery] = answer.json()["deliveries"]
    content = client.get(f"/v1/messages/{delivery['id']}").json()["content"]
    link = content.get("unsubscribe_url")
    return delivery["status"], "/" + link.split("://", 1)[1].split("/", 1)[1] if link else None


def _link(client: Client) -> str:
    status, path = _news(client)
    assert status == "queued"
    assert path is not None
    return path


def _consent(client: Client, customer_id: str, status: str) -> None:
    answer = client.post(
        f"/v1/customers/{customer_id}/consents", json={"channel": "email", "status": status}
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("flow", ["page", "one-click"])
def test_a_link_issued_before_a_resubscribe_no_longer_unsubscribes(
    client: Client, flow: str
) -> None:
    customer_id = _newsletter(client)
    old = _link(client)
    # A system confirming a consent that already holds is no opt-in: links keep working.
    _consent(client, customer_id, "subscribed")
    assert client.post(old, **ONE_CLICK).status_code == 200
    assert _news(client)[0] == "suppressed"
    _consent(client, customer_id, "subscribed")

    if flow == "page":
        page = client.get(old)
        assert page.status_code == 410
        assert "you subscribed again since" in page.text
        assert "<form" not in page.text
    else:
        refused = client.post(old, **ONE_CLICK)
        assert refused.status_code == 410
        assert "you subscribed again since" in refused.text
    new = _link(client)  # queued: the old link did not unsubscribe again

    if flow == "page":
        page = client.get(new)
        assert page.status_code == 200
        assert "<form" in page.text
    assert client.post(new, **ONE_CLICK).status_code == 200
    assert _news(client)[0] == "suppressed"


def test_a_link_from_before_links_carried_their_time_works_until_the_next_resubscribe(
    client: Client, app: Litestar, api_project: ProjectCredentials
) -> None:
    customer_id = _newsletter(client)
    project_id = api_project.project.id
    # The token of messages sent by earlier versions: project, customer and channel only.
    payload = f"{project_id}.{customer_id}.email"
    key = f"unsubscribe:{app.state.settings.secret_key}".encode()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    token = (
        base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        + "."
        + base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")
    )
    legacy = f"/u/{token}"

    assert client.get(legacy).status_code == 200
    assert client.post(legacy, **ONE_CLICK).status_code == 200
    assert _news(client)[0] == "suppressed"
    _consent(client, customer_id, "subscribed")
    assert client.get(legacy).status_code == 410
    assert client.post(legacy, **ONE_CLICK).status_code == 410
    assert _news(client)[0] == "queued"


def test_links_expire_after_the_configured_days(
    client: Client, app: Litestar, api_project: ProjectCredentials
) -> None:
    customer_id = _newsletter(client)
    project_id = api_project.project.id
    days = app.state.settings.unsubscribe_link_days
    secret = app.state.settings.secret_key

    def link(age: timedelta) -> str:
        issued = utcnow() - age
        return "/u/" + unsubscribe_token(secret, project_id, customer_id, "email", issued_at=issued)

    expired = link(timedelta(days=days, minutes=1))
    page = client.get(expired)
    assert page.status_code == 410
    assert "This link has expired" in page.text
    assert client.post(expired, **ONE_CLICK).status_code == 410
    assert _news(client)[0] == "queued"

    still_good = link(timedelta(days=days, minutes=-1))
    assert client.post(still_good, **ONE_CLICK).status_code == 200
    assert _news(client)[0] == "suppressed"
