"""A bulk invite through the SMTP provider to a real SMTP server (aiosmtpd), in-process."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.service_process import all_messages, wait_until
from tests.test_providers.fakes.smtp_server import RecordingHandler
from tests.test_web.bulk_invite import (
    FINAL,
    add_readers,
    assigned_codes,
    bulk_send,
    html_of,
    inbox,
    start_invite,
)

RECIPIENTS = 200


def test_every_recipient_gets_one_email_with_their_own_code(
    client: TestClient[Litestar],
    app_database: Database,
    smtp_sink: tuple[RecordingHandler, int],
) -> None:
    handler, port = smtp_sink
    source_ids = add_readers(client, RECIPIENTS)
    invite = start_invite(client, port, len(source_ids))
    wait_until(
        lambda: bulk_send(client, invite.job_id)["status"] in FINAL,
        "the bulk send did not finish",
        limit=300,
    )
    job = bulk_send(client, invite.job_id)
    messages = all_messages(client, campaign_id=invite.campaign_id)
    codes = assigned_codes(app_database, invite.campaign_id)
    received = inbox(handler.received)

    assert job["status"] == "completed", job
    assert job["progress"]["messages"] == {"sent": RECIPIENTS}
    assert len(messages) == RECIPIENTS
    assert {m["recipient"] for m in messages} == {f"{s}@example.com" for s in source_ids}
    assert len(codes) == len(set(codes.values())) == RECIPIENTS
    for message in messages:
        [email] = received[message["recipient"]]
        assert codes[message["customer_id"]] in html_of(email)
        # The delivery row keeps the id the provider gave the message: its Message-ID.
        assert message["provider_message_id"] == email["Message-ID"]
        assert message["id"] in email["Message-ID"]
    assert len(handler.received) == RECIPIENTS
