"""RFC 8058 one-click unsubscribe follows the service's DM_PUBLIC_URL: https only.

Marketing email through the SMTP provider to a real SMTP server (aiosmtpd), from a service
built with its own settings: with an http public URL the link is listed in List-Unsubscribe
but List-Unsubscribe-Post is left out, and the service says so when it starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import make_project, migrated_database
from tests.service_process import all_messages, wait_until
from tests.test_providers.fakes.smtp_server import RecordingHandler, start_smtp_server
from tests.test_web.api_templates import published_template
from web.app import create_app
from web.settings import Settings

Client = TestClient[Litestar]
WARNING = "is not https: marketing email is sent without List-Unsubscribe-Post"


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    controller = start_smtp_server(handler)
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@contextmanager
def _service(directory: Path, public_url: str) -> Iterator[Client]:
    """A service of its own on a database of its own, as an operator configures it."""
    with migrated_database("sqlite", directory) as url:
        settings = Settings(
            database_url=url,
            data_dir=directory,
            secret_key="test-secret-key",
            migrate_on_start=False,
            allow_private_networks=True,  # the SMTP server listens on 127.0.0.1
            worker_poll_interval=0.05,
            public_url=public_url,
        )
        app = create_app(settings)
        project = make_project(app.state.database)
        with TestClient(app) as client:
            client.headers.update(project.headers)
            yield client


def _newsletter_to(client: Client, port: int, address: str) -> None:
    """Send one marketing email to ``address`` through the SMTP server on ``port``."""
    created = client.post(
        "/v1/providers",
        json={
            "name": "mail",
            "kind": "smtp",
            "config": {
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "from_email": "news@example.com",
            },
        },
    )
    assert created.status_code == 201, created.text
    template_id = published_template(
        client,
        category="marketing",
        source={
            "body_format": "html",
            "subject": "News",
            "body": '<p>News</p><a href="{{ links.unsubscribe_url }}">Unsubscribe</a>',
        },
    )
    distribution = client.post(
        "/v1/distributions",
        json={
            "name": "News",
            "trigger": "news.published",
            "channels": [{"channel": "email", "template": template_id, "provider": "mail"}],
        },
    )
    assert distribution.status_code == 201, distribution.text
    customer = {"source_id": address.split("@")[0], "email": address, "name": "Reader"}
    event = client.post("/v1/events", json={"type": "news.published", "customer": customer})
    assert event.status_code == 202, event.text
    wait_until(
        lambda: [m["status"] for m in all_messages(client)] == ["sent"],
        lambda: f"the newsletter was not sent: {all_messages(client)}",
    )


def _received(handler: RecordingHandler, address: str) -> dict[str, str | None]:
    [received] = [r for r in handler.received if r.rcpt_tos == [address]]
    message = received.message
    return {name: message[name] for name in ("List-Unsubscribe", "List-Unsubscribe-Post")}


def test_an_http_public_url_sends_no_one_click_header_and_warns_at_start_up(
    tmp_path: Path, smtp_sink: tuple[RecordingHandler, int], capfd: pytest.CaptureFixture[str]
) -> None:
    handler, port = smtp_sink
    with _service(tmp_path, "http://dm.example.com") as client:
        assert WARNING in capfd.readouterr().err
        _newsletter_to(client, port, "plain@example.com")
    headers = _received(handler, "plain@example.com")
    assert str(headers["List-Unsubscribe"]).startswith("<http://dm.example.com/u/")
    assert headers["List-Unsubscribe-Post"] is None


def test_an_https_public_url_offers_one_click_without_a_warning(
    tmp_path: Path, smtp_sink: tuple[RecordingHandler, int], capfd: pytest.CaptureFixture[str]
) -> None:
    handler, port = smtp_sink
    with _service(tmp_path, "https://dm.example.com") as client:
        assert WARNING not in capfd.readouterr().err
        _newsletter_to(client, port, "secure@example.com")
    headers = _received(handler, "secure@example.com")
    assert str(headers["List-Unsubscribe"]).startswith("<https://dm.example.com/u/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
