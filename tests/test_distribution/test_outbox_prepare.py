"""Triggered and bulk sends prepare a recipient by the same rules and give the same reasons."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from distribution.bulk import (
    BulkSpec,
    begin_job,
    check_rows,
    create_job,
    get_job,
    prepare_batch,
)
from distribution.codes.campaigns import CampaignSpec, create_campaign
from distribution.codes.code_pools import CodeConfig, create_pool, generate_codes
from distribution.customers.customer_input import CustomerIn
from distribution.customers.store import upsert_customer
from distribution.events.event_input import parse_event
from distribution.events.ingest import receive_event
from distribution.models import Customer, Delivery
from distribution.outbox import ChannelSpec
from distribution.storage.db import Database
from tests.builders import distribute, publish_template
from tests.conftest import ProjectCredentials

from .engine_helpers import LINKS

# Stored before addresses were checked on input (an old import): no dot in the domain.
MALFORMED = "ada@example"


def _customer_with_malformed_email(database: Database, project_id: str) -> str:
    with database.session() as session:
        customer = upsert_customer(
            session,
            project_id,
            CustomerIn(source_id="ada", name="Ada", email="ada@example.com"),
            default_region="US",
        ).customer
        session.connection().execute(
            update(Customer).where(col(Customer.id) == customer.id).values(email=MALFORMED)
        )
        return customer.id


def _bulk_reason(database: Database, project_id: str, template: str, customer_id: str) -> str:
    with database.session() as session:
        campaign = create_campaign(session, project_id, CampaignSpec(name="Invite"))
        pool = create_pool(session, project_id, campaign.id, "main")
    generate_codes(database, project_id, pool.id, CodeConfig(count=1, length=12))
    spec = BulkSpec(
        campaign_id=campaign.id,
        channels=[ChannelSpec("email", template, "capture")],
        customers=[customer_id],
        send_delay_seconds=3600,
    )
    with database.session() as session:
        job_id = create_job(session, project_id, spec, actor="t").id
    assert begin_job(database, project_id, job_id, LINKS) == "preparing"
    # The first batch (its one row is refused, none queued), then the checks of every row.
    assert prepare_batch(database, project_id, job_id, LINKS) == ("preparing", 0)
    with database.reader() as session:
        assert not get_job(session, project_id, job_id).preflight["rows_checked"]
    assert check_rows(database, project_id, job_id, LINKS) == "preparing"
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
    assert job.preflight["rows_checked"]
    assert job.preflight["channels"][0]["invalid_address"] == 1
    with database.reader() as session:
        row = session.exec(select(Delivery).where(Delivery.bulk_job_id == job_id)).one()
    assert row.status == "failed"
    assert row.last_error is not None
    return row.last_error


def test_a_malformed_address_is_refused_alike_by_triggered_and_bulk_sends(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    template = publish_template(database, project_id, body="<p>Hi {{ customer.first_name }}</p>")
    distribute(database, project_id, "reward.granted", [("email", template, "capture")])
    customer_id = _customer_with_malformed_email(database, project_id)

    event = parse_event({"type": "reward.granted", "customer": {"id": customer_id}})
    [triggered] = receive_event(database, project_id, event, LINKS).deliveries

    assert triggered.status == "failed"
    assert triggered.reason == f"invalid email address: {MALFORMED!r}"
    assert triggered.reason == _bulk_reason(database, project_id, template, customer_id)
