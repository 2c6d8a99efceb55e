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
from tests.test_providers.fakes.smtp_server import RecordingHandler
from tests.test_web.api_templates import news_distribution
from tests.test_web.bulk_invite import smtp_provider
from web.app import create_app

from .conftest import own_settings

Client = TestClient[Litestar]
WARNING = "is not https: marketing email is sent without List-Unsubscribe-Post"


@contextmanager
def _service(directory: Path, public_url: str) -> Iterator[Client]:
    """A service of its own on a database of its own, as an operator configures it."""
    with migrated_database("sqlite", directory) as url:
        # The SMTP server listens on 127.0.0.1, as the operator's setting allows.
        settings = own_settings(url, directory, public_url=public_url, allow_private_networks=True)
        app = create_app(settings)
        project = make_project(app.state.database)
        with TestClient(app) as client:
            client.headers.update(project.headers)
            yield client


def _newsletter_to(client: Client, port: int, address: str) -> None:
    """Send one marketing email to ``address`` through the SMTP server on ``port``."""
    news_distribution(client, smtp_provider(client, port))
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
