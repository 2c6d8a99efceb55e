"""Bulk sends end to end: preflight, batches of codes and rows, the worker, cancel."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, func, select

from distribution.bulk import (
    BulkRunner,
    begin_job,
    cancel_job,
    check_rows,
    create_job,
    get_job,
    job_progress,
    preflight,
    prepare_batch,
)
from distribution.codes.code_pools import pool_stats
from distribution.customers.store import upsert_customers
from distribution.errors import ConflictError
from distribution.models import BulkJob, Code, Customer, Delivery
from distribution.outbox.worker import EmbeddedWorker
from distribution.storage.db import Database
from providers.capture import CaptureConfig, CaptureProvider
from tests.builders import bulk_setup, bulk_spec, held_bulk_job, publish_template
from tests.conftest import ProjectCredentials
from tests.test_distribution.engine_helpers import FAST_RETRIES, LINKS, Senders


async def _run_until(
    database: Database, project_id: str, job_id: str, capture: CaptureProvider, final: set[str]
) -> BulkJob:
    worker = EmbeddedWorker(
        database, Senders({"capture": capture}), FAST_RETRIES, batch_size=500, poll_interval=0.05
    )
    runner = BulkRunner(database, LINKS, worker.wake, poll_interval=0.05)
    await worker.start()
    await runner.start()
    try:
        while True:
            await asyncio.sleep(0.1)
            with database.reader() as session:
                job = get_job(session, project_id, job_id)
            if job.status in final:
                return job
    finally:
        await runner.stop()
        await worker.stop()


def test_ten_thousand_recipients_get_one_message_and_one_distinct_code_each(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    ids = bulk_setup(database, project_id, 10_000, 10_000)
    with database.session() as session:
        job_id = create_job(session, project_id, bulk_spec(ids, send_delay_seconds=0), actor="t").id
    capture = CaptureProvider("capture", CaptureConfig(max_messages=20_000))
    job = asyncio.run(_run_until(database, project_id, job_id, capture, {"completed", "failed"}))
    assert job.status == "completed", job.error
    assert job.preflight["ok"]
    assert job.preflight["audience"] == 10_000
    sent_to = [m.message.to for m in capture.messages]
    assert len(sent_to) == len(set(sent_to)) == 10_000
    with database.reader() as session:
        holders = session.exec(
            select(Code.customer_id, Code.code).where(
                Code.pool_id == ids["pool"], Code.status == "assigned"
            )
        ).all()
        rows = session.exec(
            select(func.count()).where(Delivery.bulk_job_id == job_id, Delivery.status == "sent")
        ).one()
        priorities = set(
            session.exec(select(Delivery.priority).where(Delivery.bulk_job_id == job_id)).all()
        )
        progress = job_progress(session, job)
    assert rows == 10_000
    assert priorities == {10}
    assert len({c for c, _ in holders}) == len({code for _, code in holders}) == 10_000
    # Each message carries the code its recipient holds.
    by_email = {m.message.to: m.message.html or "" for m in capture.messages}
    code_of = dict(holders)
    with database.reader() as session:
        emails = dict(
            session.exec(
                select(Delivery.customer_id, Delivery.recipient).where(
                    Delivery.bulk_job_id == job_id
                )
            ).all()
        )
    assert all(code_of[c] in by_email[str(emails[c])] for c in code_of)
    assert progress.messages == {"sent": 10_000}
    assert progress.prepared == 10_000


def test_batches_are_prepared_before_every_row_is_checked_but_sending_waits_for_it(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id = held_bulk_job(database, project_id, 25)
    assert begin_job(database, project_id, job_id, LINKS) == "preparing"
    with database.reader() as session:
        started = get_job(session, project_id, job_id).preflight
    assert started["ok"]
    assert started["audience"] == 25
    assert not started["rows_checked"]
    assert started["channels"][0]["sendable"] == 0
    # Every batch, the first one small, then the job waits for its rows' checks.
    assert prepare_batch(database, project_id, job_id, LINKS, 10) == ("preparing", 10)
    assert prepare_batch(database, project_id, job_id, LINKS, 10) == ("preparing", 10)
    assert prepare_batch(database, project_id, job_id, LINKS, 10) == ("preparing", 5)
    assert prepare_batch(database, project_id, job_id, LINKS, 10) == ("preparing", 0)
    assert prepare_batch(database, project_id, job_id, LINKS, 10) == ("preparing", 0)
    assert check_rows(database, project_id, job_id, LINKS) == "preparing"
    with database.reader() as session:
        checked = get_job(session, project_id, job_id).preflight
    assert checked["rows_checked"]
    assert checked["channels"][0]["sendable"] == 25
    # The stock the job started on: the batches' codes are not counted as held before.
    assert checked["already_have_code"] == started["already_have_code"] == 0
    assert len(checked["samples"]) > 0
    assert prepare_batch(database, project_id, job_id, LINKS, 10) == ("sending", 0)
    # A second walk finds the report stored and leaves it.
    assert check_rows(database, project_id, job_id, LINKS) == "sending"
    with database.session() as session:
        cancel_job(session, project_id, job_id, release_codes=False)


def test_an_empty_audience_is_checked_before_the_job_turns_sending(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id = held_bulk_job(database, project_id, 3)
    assert begin_job(database, project_id, job_id, LINKS) == "preparing"
    with database.session() as session:
        # Everyone erased after the start: nothing to prepare, yet the report is completed.
        for customer in session.exec(select(Customer).where(Customer.project_id == project_id)):
            customer.erased_at = customer.created_at
            session.add(customer)
    assert prepare_batch(database, project_id, job_id, LINKS, 10) == ("preparing", 0)
    assert check_rows(database, project_id, job_id, LINKS) == "preparing"
    with database.reader() as session:
        assert get_job(session, project_id, job_id).preflight["rows_checked"]
    assert prepare_batch(database, project_id, job_id, LINKS, 10) == ("sending", 0)


def test_an_under_stocked_pool_is_refused_unless_sending_to_available(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    ids = bulk_setup(database, project_id, 30, 20)
    with database.session() as session, pytest.raises(ConflictError, match="needs 30"):
        create_job(session, project_id, bulk_spec(ids), actor="t")
    with database.session() as session:
        job = create_job(
            session,
            project_id,
            bulk_spec(ids, send_to_available=True, send_delay_seconds=0),
            actor="t",
        )
        report = preflight(session, job, LINKS)
    assert report["codes_needed"] == 30
    assert report["codes_available"] == 20
    assert report["ok"]  # asked to send to as many as the pool covers
    capture = CaptureProvider("capture", CaptureConfig())
    done = asyncio.run(_run_until(database, project_id, job.id, capture, {"completed"}))
    assert len(capture.messages) == 20
    assert done.counts["no_code"] == 10
    with database.reader() as session:
        failed = session.exec(
            select(func.count()).where(
                Delivery.bulk_job_id == job.id,
                Delivery.status == "failed",
                col(Delivery.last_error).contains("ran out"),
            )
        ).one()
    assert failed == 10  # nothing silently lost: the uncovered recipients are listed


def test_preflight_lists_rows_that_miss_variables(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    ids = bulk_setup(database, project_id, 5, 5)
    ids["template"] = publish_template(
        database, project_id, subject="Hi", body="<p>{{ customer.metadata.nickname }}</p>"
    )
    with database.session() as session:
        upsert_customers(
            session,
            project_id,
            [{"source_id": "r0", "metadata": {"nickname": "Zed"}}],
            default_region="US",
        )
        job = create_job(session, project_id, bulk_spec(ids), actor="t")
        report = preflight(session, job, LINKS)
    assert report["channels"][0]["sendable"] == 1
    assert report["channels"][0]["render_failures"] == 4
    assert report["render_failures"][0]["missing"] == ["customer.metadata.nickname"]


def test_cancel_stops_sending_and_can_release_codes(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    ids = bulk_setup(database, project_id, 50, 50)
    with database.session() as session:
        job_id = create_job(
            session, project_id, bulk_spec(ids, send_delay_seconds=3600), actor="t"
        ).id
    capture = CaptureProvider("capture", CaptureConfig())
    prepared = asyncio.run(_run_until(database, project_id, job_id, capture, {"sending"}))
    assert prepared.counts["prepared"] == 50
    with database.session() as session:
        cancel_job(session, project_id, job_id, release_codes=True)
    asyncio.run(_run_until(database, project_id, job_id, capture, {"cancelled"}))
    assert capture.messages == ()
    with database.reader() as session:
        statuses = set(
            session.exec(select(Delivery.status).where(Delivery.bulk_job_id == job_id)).all()
        )
        assert statuses == {"cancelled"}
        assert pool_stats(session, ids["pool"]).available == 50
