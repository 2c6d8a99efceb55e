"""prepare_customers: exactly the recipients given, idempotent, counts added to the job's."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, func, select

from distribution.bulk import (
    begin_job,
    cancel_job,
    create_job,
    get_job,
    prepare_batch,
    prepare_customers,
)
from distribution.bulk.audience import live_customers
from distribution.bulk.batch import render_batch, write_batch
from distribution.codes.assignment import assign_code, revoke_code
from distribution.customers.consent import read_unsubscribe_token
from distribution.models import Code, Customer, Delivery, DeliveryStatusChange, Project
from distribution.storage.db import Database
from tests.builders import bulk_setup, bulk_spec, publish_template
from tests.conftest import ProjectCredentials
from tests.test_distribution.engine_helpers import LINKS


def _started_job(
    database: Database, project_id: str, customers: int, codes: int | None = None
) -> tuple[str, list[str]]:
    ids = bulk_setup(database, project_id, customers, customers if codes is None else codes)
    with database.session() as session:
        job_id = create_job(
            session, project_id, bulk_spec(ids, send_delay_seconds=3600), actor="t"
        ).id
    assert begin_job(database, project_id, job_id, LINKS) == "preparing"
    with database.reader() as session:
        return job_id, _customer_ids(session, project_id)


def _customer_ids(session: Session, project_id: str) -> list[str]:
    query = select(Customer.id).where(Customer.project_id == project_id).order_by(Customer.id)
    return list(session.exec(query))


def _cancel(database: Database, project_id: str, job_id: str) -> None:
    # The shared database outlives the test: leave no queued rows for other tests' workers.
    with database.session() as session:
        cancel_job(session, project_id, job_id, release_codes=False)


def test_chunks_prepare_exactly_their_recipients_and_add_up(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id, customer_ids = _started_job(database, project_id, 30)
    for chunk in (customer_ids[20:], customer_ids[:10], customer_ids[10:20]):
        with database.session() as session:
            job = get_job(session, project_id, job_id)
            counts = prepare_customers(session, job, chunk, LINKS)
        assert (counts.prepared, counts.queued, counts.codes_assigned) == (10, 10, 10)
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        prepared_for = set(
            session.exec(select(Delivery.customer_id).where(Delivery.bulk_job_id == job_id))
        )
        codes = session.exec(
            select(func.count(func.distinct(Code.customer_id))).where(Code.project_id == project_id)
        ).one()
    assert job.counts["prepared"] == 30
    assert job.counts["codes_assigned"] == 30
    assert prepared_for == set(customer_ids)
    assert codes == 30
    _cancel(database, project_id, job_id)


def test_preparing_the_same_recipients_again_writes_nothing_twice(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id, customer_ids = _started_job(database, project_id, 5)
    with database.session() as session:
        job = get_job(session, project_id, job_id)
        first = prepare_customers(session, job, customer_ids, LINKS)
    with database.session() as session:
        job = get_job(session, project_id, job_id)
        again = prepare_customers(session, job, [*customer_ids, "cus_unknown"], LINKS)
    assert first.queued == 5
    assert again.queued == 0
    with database.reader() as session:
        rows = session.exec(
            select(Delivery.id, Delivery.customer_id).where(Delivery.bulk_job_id == job_id)
        ).all()
        changes = session.exec(
            select(func.count()).where(
                DeliveryStatusChange.delivery_id.in_([r[0] for r in rows])  # type: ignore[attr-defined]
            )
        ).one()
        held = session.exec(
            select(Code.customer_id, Code.code).where(
                Code.project_id == project_id, Code.status == "assigned"
            )
        ).all()
    assert len(rows) == 5
    assert {r[1] for r in rows} == set(customer_ids)
    assert changes == 5
    assert len(held) == 5
    assert len({c for _, c in held}) == 5
    _cancel(database, project_id, job_id)


def test_a_batch_whose_planned_code_was_taken_meanwhile_writes_nothing(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id, customer_ids = _started_job(database, project_id, 4)
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        customers = live_customers(session, project_id, customer_ids)
        batch = render_batch(session, job, customers, LINKS, lock_codes=False)
    pool_id = str(job.options["pool_id"])
    # A single assignment through the API takes the lowest available code: the one planned first.
    with database.session() as session:
        owner = session.get(Project, project_id)
        assert owner is not None
        taken = assign_code(session, owner, pool_id, customer_ids[0], LINKS)
    assert taken.code == batch.claims[0].code
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        assert write_batch(session, job, batch, verify=True) is None
    with database.reader() as session:
        written = session.exec(select(func.count()).where(Delivery.bulk_job_id == job_id)).one()
    assert written == 0
    assert prepare_batch(database, project_id, job_id, LINKS)[1] == 4
    with database.reader() as session:
        held = dict(
            session.exec(
                select(Code.customer_id, Code.code).where(
                    Code.project_id == project_id, Code.status == "assigned"
                )
            ).all()
        )
    assert held[customer_ids[0]] == taken.code
    assert len(set(held.values())) == 4
    _cancel(database, project_id, job_id)


def test_a_batch_whose_held_code_was_revoked_meanwhile_writes_nothing(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id, customer_ids = _started_job(database, project_id, 3, codes=4)
    with database.reader() as session:
        pool_id = str(get_job(session, project_id, job_id).options["pool_id"])
    with database.session() as session:
        owner = session.get(Project, project_id)
        assert owner is not None
        held = assign_code(session, owner, pool_id, customer_ids[1], LINKS)
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        customers = live_customers(session, project_id, customer_ids)
        batch = render_batch(session, job, customers, LINKS, lock_codes=False)
    assert batch.held == {customer_ids[1]: held.code}
    with database.session() as session:
        owner = session.get(Project, project_id)
        assert owner is not None
        revoke_code(session, owner, held.code, LINKS)
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        assert write_batch(session, job, batch, verify=True) is None
    assert prepare_batch(database, project_id, job_id, LINKS)[1] == 3
    with database.reader() as session:
        sent_codes = [
            content["html"]
            for content in session.exec(
                select(Delivery.content).where(Delivery.bulk_job_id == job_id)
            )
        ]
    assert not any(held.code in html for html in sent_codes)
    _cancel(database, project_id, job_id)


@pytest.mark.parametrize(
    ("category", "body", "signed"),
    [
        ("transactional", "<p>{{ code.code }}</p>", False),
        (
            "transactional",
            '<p>{{ code.code }} <a href="{{ links.unsubscribe_url }}">x</a></p>',
            True,
        ),
        # Read in a way the path finder does not follow: signed all the same.
        ("transactional", '{% set u = links.unsubscribe_url %}<a href="{{ u }}">x</a>', True),
        # Marketing: the body never prints the link (setting it meets the publish check), and
        # the List-Unsubscribe link it carries is signed.
        ("marketing", "{% set unused = links.unsubscribe_url %}<p>{{ code.code }}</p>", True),
    ],
)
def test_the_unsubscribe_link_is_signed_whenever_it_can_be_read_or_is_carried(
    database: Database, project: ProjectCredentials, category: str, body: str, signed: bool
) -> None:
    project_id = project.project.id
    ids = bulk_setup(database, project_id, 2, 2)
    ids["template"] = publish_template(database, project_id, category=category, body=body)
    with database.session() as session:
        job = create_job(session, project_id, bulk_spec(ids, send_delay_seconds=3600), actor="t")
    assert begin_job(database, project_id, job.id, LINKS) == "preparing"
    with database.reader() as session:
        job = get_job(session, project_id, job.id)
        customers = live_customers(session, project_id, _customer_ids(session, project_id))
        batch = render_batch(session, job, customers, LINKS, lock_codes=False)
    for row in batch.rows:
        assert row["status"] == "queued", row["last_error"]
        # A link names the moment it was issued, so it is read back rather than rebuilt.
        tokens = re.findall(rf"{LINKS.public_url}/u/([\w.-]+)", row["content"]["html"])
        tokens += re.findall(r"/u/([\w.-]+)$", row["content"].get("unsubscribe_url") or "")
        named = {
            (link.project_id, link.customer_id, link.channel)
            for link in (read_unsubscribe_token(LINKS.secret_key, t) for t in tokens)
        }
        assert (named == {(project_id, row["customer_id"], "email")}) == signed
    _cancel(database, project_id, job.id)
