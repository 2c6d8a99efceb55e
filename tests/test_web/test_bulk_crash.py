"""Crash: SIGKILL the real service in the middle of a 3,000-recipient bulk invite, restart, count.

The invite goes by SMTP to an aiosmtpd server in this process, so what reached the mail server is
seen across the restart. The job must complete with every recipient prepared once, holding one
code of their own, and sent exactly one email carrying it; the only exceptions allowed are
deliveries recorded ``unknown`` (in flight when the process died: never sent again), which got
at most one email.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from distribution.models import BulkJob
from distribution.storage.db import Database
from tests.conftest import BACKENDS, migrated_database
from tests.service_process import LEASE, Service, all_messages, api_credentials, wait_until
from tests.test_providers.fakes.smtp_server import RecordingHandler, start_smtp_server
from tests.test_web.bulk_invite import (
    FINAL,
    add_readers,
    assigned_codes,
    bulk_send,
    html_of,
    inbox,
    start_invite,
)

pytestmark = pytest.mark.slow

RECIPIENTS = 3000


class SlowSink(RecordingHandler):
    """Records each message, then takes a moment to answer, so a send is long enough to be
    interrupted and the job lasts seconds rather than a blink."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return reply


@pytest.fixture(params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    # A database of its own: the session's shared one has the in-process app's worker and bulk
    # runner on it, which would pick up this job and keep sending while "the service" is dead.
    with migrated_database(request.param, tmp_path) as url, Service(tmp_path, url) as running:
        # Small batches, so preparing lasts long enough to be caught and killed midway even on a
        # fast machine (3,000 recipients in two batches took less than the test's poll).
        running.env["DM_BULK_BATCH_SIZE"] = "100"
        yield running


@pytest.fixture
def sink() -> Iterator[tuple[SlowSink, int]]:
    handler = SlowSink(delay=0.01)
    controller = start_smtp_server(handler)
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def _job(database: Database, job_id: str) -> BulkJob:
    with database.reader() as session:
        job = session.get(BulkJob, job_id)
        assert job is not None
        return job


#: When to kill: with some recipients prepared and others not yet, or with every recipient
#: prepared and part of the emails sent.
MOMENTS = ("preparing", "sending")


def _at(moment: str, job: BulkJob, emailed: int) -> bool:
    if moment == "preparing":
        return job.status == "preparing" and int(job.counts.get("prepared", 0)) > 0
    return job.status == "sending" and emailed >= RECIPIENTS // 10


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigkill_mid_bulk_send_completes_once_per_recipient_with_own_code(
    service: Service, sink: tuple[SlowSink, int], moment: str
) -> None:
    handler, port = sink
    credentials = api_credentials(service.run("projects", "create", "bulk-crash"))
    database = Database(service.env["DATABASE_URL"])
    try:
        service.start()
        with httpx.Client(base_url=service.url, headers=credentials, timeout=60) as client:
            source_ids = add_readers(client, RECIPIENTS)
            invite = start_invite(client, port, len(source_ids))
            wait_until(
                lambda: _at(moment, _job(database, invite.job_id), len(handler.received)),
                f"the job never reached the moment to kill it ({moment})",
                limit=300,
            )
            service.kill()
            at_kill = len(handler.received)
            killed = _job(database, invite.job_id)
            # Let the dead process's leases run out, so the restart finds them abandoned.
            time.sleep(LEASE + 0.5)
            service.start()
            wait_until(
                lambda: bulk_send(client, invite.job_id)["status"] in FINAL,
                "the bulk send did not finish after the restart",
                limit=600,
            )
            job = bulk_send(client, invite.job_id)
            messages = all_messages(client, campaign_id=invite.campaign_id)
        codes = assigned_codes(database, invite.campaign_id)
    finally:
        database.dispose()
    received = inbox(handler.received)
    emails = {f"{s}@example.com" for s in source_ids}

    assert killed.status == moment, killed.counts
    assert at_kill < RECIPIENTS, "the kill came after every message was sent"
    assert job["status"] == "completed", job
    # Counts add up: everyone prepared and given a code once, every message sent or unknown.
    statuses = job["progress"]["messages"]
    assert set(statuses) <= {"sent", "unknown"}, statuses
    assert sum(statuses.values()) == RECIPIENTS, statuses
    assert job["progress"]["prepared"] == job["progress"]["audience"] == RECIPIENTS
    assert job["counts"]["codes_assigned"] == RECIPIENTS, job["counts"]
    # Nobody missing, nobody prepared twice.
    assert len(messages) == RECIPIENTS
    assert sorted(m["recipient"] for m in messages) == sorted(emails)
    assert len(codes) == len(set(codes.values())) == RECIPIENTS
    assert set(codes) == {m["customer_id"] for m in messages}
    # Nothing went to an address outside the audience.
    assert set(received) <= emails
    unknown = sorted(m["recipient"] for m in messages if m["status"] == "unknown")
    twice = sorted(a for a, got in received.items() if len(got) > 1)
    assert not twice, f"emailed twice: {twice} (unknown: {unknown})"
    for message in messages:
        got = received.get(message["recipient"], [])
        if message["status"] == "sent":
            assert len(got) == 1, f"{message['recipient']} was sent but received {len(got)}"
            assert message["provider_message_id"] == got[0]["Message-ID"]
        # Whatever reached the recipient carries the code they hold, not someone else's.
        assert all(codes[message["customer_id"]] in html_of(email) for email in got)
    print(f"killed {killed.status} {killed.counts} after {at_kill} emails; unknown: {unknown}")
