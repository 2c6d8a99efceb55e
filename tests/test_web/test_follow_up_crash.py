"""Crash: SIGKILL the real service while a follow-up waits; the restart re-checks and sends it.

The wait is a committed ``follow_up`` row, so the kill loses nothing: after the restart the
reminder whose code was not redeemed is sent once, and the other is skipped with its reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from distribution.models import FollowUp
from distribution.storage.db import Database
from tests.conftest import BACKENDS, migrated_database
from tests.service_process import Service, all_messages, api_credentials, wait_until
from tests.test_distributed.receiver import counting_receiver
from tests.test_providers.fakes.webhook_receiver import SECRET

pytestmark = pytest.mark.slow

DELAY = 6  # seconds: long enough to kill the service before it is due


def _set_up(client: httpx.Client, receiver_url: str) -> None:
    provider = client.post(
        "/v1/providers",
        json={
            "name": "hook",
            "kind": "webhook",
            "config": {"url": f"{receiver_url}/messages", "secret": SECRET},
        },
    )
    assert provider.status_code == 201, provider.text
    template = client.post(
        "/v1/templates",
        json={
            "name": "reminder",
            "channel": "email",
            "category": "transactional",
            "subject": "Your code is waiting",
            "body_format": "html",
            "body": "<p>{{ code.code }} is still yours</p>",
        },
    ).json()
    version = template["variants"][0]["latest_draft"]["id"]
    published = client.post(f"/v1/templates/{template['id']}/publish", json={"version_id": version})
    assert published.status_code in (200, 201), published.text
    distribution = client.post(
        "/v1/distributions",
        json={
            "name": "reminder",
            "trigger": "code.assigned",
            "channels": [{"channel": "email", "template": template["id"], "provider": "hook"}],
            "delay": DELAY,
            "recheck": {"code": "not_redeemed"},
        },
    )
    assert distribution.status_code == 201, distribution.text


def _event(client: httpx.Client, kind: str, who: str, code: str) -> None:
    answer = client.post(
        "/v1/events",
        json={
            "type": kind,
            "customer": {"source_id": who, "email": f"{who}@example.com"},
            "code": {"code": code},
        },
    )
    assert answer.status_code == 202, answer.text


def _follow_ups(database_url: str) -> dict[str, tuple[str, str | None]]:
    database = Database(database_url)
    try:
        with database.reader() as session:
            rows = session.exec(select(FollowUp)).all()
            return {row.id: (row.status, row.reason) for row in rows}
    finally:
        database.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None: the service's own SQLite file; else a migrated PostgreSQL schema of this test."""
    if request.param == "sqlite":
        yield None
        return
    with migrated_database("postgresql", tmp_path) as url:
        yield url


def test_sigkill_while_a_follow_up_waits_loses_nothing_and_sends_once(
    tmp_path: Path, database_url: str | None
) -> None:
    with Service(tmp_path, database_url) as service, counting_receiver() as receiver:
        service.env["DM_SCHEDULE_INTERVAL"] = "1"
        credentials = api_credentials(service.run("projects", "create", "follow-ups"))
        service.start()
        with httpx.Client(base_url=service.url, headers=credentials, timeout=30) as client:
            _set_up(client, receiver.url)
            _event(client, "code.assigned", "keeps", "KEEP-1")
            _event(client, "code.assigned", "uses", "USE-1")
            _event(client, "redemption.succeeded", "uses", "USE-1")
            service.kill()
            assert receiver.total() == 0
            waiting = _follow_ups(service.env["DATABASE_URL"])
            assert sorted(waiting.values()) == [("waiting", None), ("waiting", None)]
            # Down past the due time: the restart finds both due at once.
            time.sleep(DELAY + 1)
            service.start()
            wait_until(lambda: receiver.total() >= 1, "the follow-up was not sent after restart")
            time.sleep(3)  # a few more scheduler rounds: nothing may be sent again
            messages = all_messages(client)
        calls = receiver.calls()
    assert [m["recipient"] for m in messages] == ["keeps@example.com"]
    assert [m["status"] for m in messages] == ["sent"]
    assert list(calls.values()) == [1]
    settled = sorted(_follow_ups(service.env["DATABASE_URL"]).values(), key=str)
    assert settled == [("sent", None), ("skipped", "the code USE-1 was redeemed")]
