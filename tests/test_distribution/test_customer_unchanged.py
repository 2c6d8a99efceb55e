"""An upsert that changes nothing writes nothing: the stored row keeps its updated_at."""

from __future__ import annotations

import time

from sqlmodel import select

from distribution.customers.customer_input import CustomerIn
from distribution.customers.store import upsert_customer, upsert_customers
from distribution.models import Customer
from distribution.storage.db import Database
from tests.conftest import ProjectCredentials

ADA = {"source_id": "u1", "name": "Ada", "email": "ada@example.com", "metadata": {"tier": "gold"}}


def _stored(database: Database, project_id: str) -> Customer:
    with database.reader() as session:
        found = session.exec(
            select(Customer).where(Customer.project_id == project_id, Customer.source_id == "u1")
        ).one()
        session.expunge(found)
        return found


def test_repeating_a_customer_keeps_its_row_and_a_change_still_writes(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    with database.session() as session:
        upsert_customers(session, project_id, [ADA], default_region="US")
    first = _stored(database, project_id)
    time.sleep(0.01)  # a write would stamp a later updated_at
    with database.session() as session:
        [again] = upsert_customers(session, project_id, [ADA], default_region="US")
        outcome = upsert_customer(session, project_id, CustomerIn(**ADA), default_region="US")
    assert (again.customer_id, again.created) == (first.id, False)
    assert (outcome.customer.id, outcome.created) == (first.id, False)
    assert outcome.customer.updated_at == first.updated_at
    assert _stored(database, project_id).updated_at == first.updated_at
    with database.session() as session:
        upsert_customer(
            session,
            project_id,
            CustomerIn(source_id="u1", metadata={"tier": "silver"}),
            default_region="US",
        )
    changed = _stored(database, project_id)
    assert changed.updated_at > first.updated_at
    assert (changed.name, changed.meta) == ("Ada", {"tier": "silver"})
