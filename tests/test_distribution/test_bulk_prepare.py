"""prepare_customers: exactly the recipients given, idempotent, counts added to the job's."""

from __future__ import annotations

from sqlmodel import func, select

from distribution.bulk import begin_job, cancel_job, create_job, get_job, prepare_customers
from distribution.db import Database
from distribution.models import Code, Customer, Delivery, DeliveryStatusChange
from tests.conftest import ProjectCredentials
from tests.test_distribution.engine_helpers import LINKS
from tests.test_distribution.test_bulk import _setup, _spec


def _started_job(database: Database, project_id: str, customers: int) -> tuple[str, list[str]]:
    ids = _setup(database, project_id, customers, customers)
    with database.session() as session:
        job_id = create_job(session, project_id, _spec(ids, send_delay_seconds=3600), actor="t").id
    assert begin_job(database, project_id, job_id, LINKS) == "preparing"
    with database.reader() as session:
        customer_ids = list(
            session.exec(
                select(Customer.id).where(Customer.project_id == project_id).order_by(Customer.id)
            )
        )
    return job_id, customer_ids


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
