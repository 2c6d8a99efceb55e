"""Code pools and assignment on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import col, func, select

from distribution.codes.assignment import assign_code, code_links, revoke_code
from distribution.codes.campaigns import CampaignSpec, create_campaign, get_campaign
from distribution.codes.code_pools import (
    CodeConfig,
    create_pool,
    generate_codes,
    import_codes,
    pool_stats,
    read_code_csv,
)
from distribution.customers.store import upsert_customers
from distribution.errors import ConflictError, InvalidInputError
from distribution.models import Code, Event, Project
from distribution.storage.db import Database
from templates.schema import VARIABLE_SCHEMA
from tests.conftest import ProjectCredentials, make_project
from tests.test_distribution.engine_helpers import LINKS


def _pool(database: Database, project_id: str, threshold: int | None = None) -> tuple[str, str]:
    with database.session() as session:
        campaign = create_campaign(
            session,
            project_id,
            CampaignSpec(name="Spring", referral_url_template="https://shop.example.com/r/{code}"),
        )
        pool = create_pool(session, project_id, campaign.id, "main", threshold)
        return campaign.id, pool.id


def _customers(database: Database, project_id: str, count: int) -> list[str]:
    rows = [{"source_id": f"c{i}", "email": f"c{i}@example.com"} for i in range(count)]
    with database.session() as session:
        items = upsert_customers(session, project_id, rows, default_region="US")
    return [str(i.customer_id) for i in items]


def _project(database: Database, project_id: str) -> Project:
    with database.reader() as session:
        project = session.get(Project, project_id)
        assert project is not None
        return project


def test_pattern_generation_makes_unique_codes_of_the_pattern(
    database: Database, project: ProjectCredentials
) -> None:
    _, pool_id = _pool(database, project.project.id)
    report = generate_codes(
        database, project.project.id, pool_id, CodeConfig(count=500, pattern="REF-####-????")
    )
    assert report.added == 500
    with database.reader() as session:
        codes = session.exec(select(Code.code).where(Code.pool_id == pool_id)).all()
    assert len(set(codes)) == 500
    assert all(re.fullmatch(r"REF-[0-9]{4}-[A-Z]{4}", c) for c in codes)


def test_generation_refuses_a_space_too_small(
    database: Database, project: ProjectCredentials
) -> None:
    _, pool_id = _pool(database, project.project.id)
    with pytest.raises(InvalidInputError) as raised:
        generate_codes(database, project.project.id, pool_id, CodeConfig(count=11, pattern="A#"))
    assert raised.value.errors[0].field == "count"


def test_generation_retries_collisions_until_the_space_is_full(
    database: Database, project: ProjectCredentials
) -> None:
    _, pool_id = _pool(database, project.project.id)
    config = CodeConfig(count=100, pattern="X##")
    assert generate_codes(database, project.project.id, pool_id, config).added == 100
    with database.reader() as session:
        assert pool_stats(session, pool_id).available == 100


def test_import_reports_duplicates_in_the_file_and_the_project(
    database: Database, project: ProjectCredentials
) -> None:
    _, pool_id = _pool(database, project.project.id)
    _, other_pool = _pool_second(database, project.project.id)
    import_codes(database, project.project.id, other_pool, [(1, "TAKEN")])
    import io

    rows = read_code_csv(io.StringIO("code\nA1\nB2\nA1\nTAKEN\nhas space\n"))
    report = import_codes(database, project.project.id, pool_id, rows)
    assert report.added == 2
    assert sorted((r["row"], r["code"]) for r in report.rows) == [
        (4, "A1"),
        (5, "TAKEN"),
        (6, "has space"),
    ]
    reasons = {r["code"]: r["reason"] for r in report.rows}
    assert reasons["A1"] == "already in this pool"
    assert reasons["TAKEN"] == "already in another pool of the project"


def _pool_second(database: Database, project_id: str) -> tuple[str, str]:
    with database.session() as session:
        campaign = create_campaign(session, project_id, CampaignSpec(name="Other"))
        pool = create_pool(session, project_id, campaign.id, "other")
        return campaign.id, pool.id


def test_asking_again_returns_the_same_code_and_revoking_frees_the_customer(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _, pool_id = _pool(database, project_id)
    import_codes(database, project_id, pool_id, [(1, "AAA"), (2, "BBB")])
    (customer,) = _customers(database, project_id, 1)
    owner = _project(database, project_id)
    with database.session() as session:
        first = assign_code(session, owner, pool_id, customer, LINKS)
    with database.session() as session:
        again = assign_code(session, owner, pool_id, "c0", LINKS)
    assert first.created
    assert not again.created
    assert first.code == again.code == "AAA"
    assert first.referral_url == "https://shop.example.com/r/AAA"
    assert first.qr_url == "https://dm.example.com/links/qr/AAA.png"
    with database.session() as session:
        revoked = revoke_code(session, owner, "AAA", LINKS)
        assert revoked.status == "revoked"
    with database.session() as session:
        assert assign_code(session, owner, pool_id, customer, LINKS).code == "BBB"
    with database.session() as session, pytest.raises(ConflictError):
        assign_code(session, owner, pool_id, _customers(database, project_id, 2)[1], LINKS)
    with database.reader() as session:
        types = session.exec(
            select(Event.type)
            .where(Event.project_id == project_id)
            .order_by(col(Event.received_at))
        ).all()
    assert sorted(types) == ["code.assigned", "code.assigned", "code.revoked"]


def test_a_code_released_behind_the_ones_picked_is_still_assigned(
    database: Database, project: ProjectCredentials
) -> None:
    """Picking starts where this process last picked; codes released before that point are
    handed out once the ones after it are gone, and only then is the pool empty."""
    project_id = project.project.id
    _, pool_id = _pool(database, project_id)
    import_codes(database, project_id, pool_id, [(1, "AAA"), (2, "BBB"), (3, "CCC")])
    customers = _customers(database, project_id, 5)
    owner = _project(database, project_id)

    def assign(customer: str) -> str:
        with database.session() as session:
            return assign_code(session, owner, pool_id, customer, LINKS).code

    assert [assign(customers[0]), assign(customers[1])] == ["AAA", "BBB"]
    with database.session() as session:  # as a cancelled bulk send releases its codes
        session.connection().execute(
            update(Code)
            .where(col(Code.pool_id) == pool_id, col(Code.code) == "AAA")
            .values(status="available", customer_id=None, assigned_at=None)
        )
    assert [assign(customers[2]), assign(customers[3])] == ["CCC", "AAA"]
    with pytest.raises(ConflictError):
        assign(customers[4])


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    customers=st.integers(min_value=1, max_value=12),
    repeats=st.integers(min_value=1, max_value=4),
    stock=st.integers(min_value=1, max_value=20),
)
def test_concurrent_assignment_never_gives_one_code_twice(
    database: Database, customers: int, repeats: int, stock: int
) -> None:
    project_id = make_project(database).project.id
    _, pool_id = _pool(database, project_id)
    import_codes(database, project_id, pool_id, [(i, f"K{i}") for i in range(stock)])
    ids = _customers(database, project_id, customers)
    owner = _project(database, project_id)

    def ask(customer: str) -> str | None:
        try:
            with database.session() as session:
                return assign_code(session, owner, pool_id, customer, LINKS).code
        except ConflictError:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, [c for c in ids for _ in range(repeats)]))
    per_customer: dict[str, set[str]] = {}
    for customer, code in zip([c for c in ids for _ in range(repeats)], answers, strict=True):
        if code is not None:
            per_customer.setdefault(customer, set()).add(code)
    # Every customer got one code at most, however often asked, and no code went to two.
    assert all(len(codes) == 1 for codes in per_customer.values())
    given_out = [next(iter(codes)) for codes in per_customer.values()]
    assert len(given_out) == len(set(given_out)) == min(customers, stock)
    with database.reader() as session:
        assigned = session.exec(
            select(func.count()).where(Code.pool_id == pool_id, Code.status == "assigned")
        ).one()
    assert assigned == min(customers, stock)


def test_a_code_gives_templates_the_documented_referral_link(database: Database) -> None:
    """templates/schema.py promises code.referral_link; sends used to provide only referral_url."""
    project_id = make_project(database, "links").project.id
    campaign_id, _ = _pool(database, project_id)
    with database.session() as session:
        values = code_links(LINKS, get_campaign(session, project_id, campaign_id), "AAA")
    # pool_id comes with the code.assigned event, not with the links of the code.
    promised = set(VARIABLE_SCHEMA["code"]["fields"]) - {"campaign", "expiration_date", "pool_id"}
    assert promised <= set(values)
    assert values["referral_link"] == values["referral_url"] == "https://shop.example.com/r/AAA"


def test_generation_goes_past_thirty_rounds_to_the_count_asked(
    database: Database, project: ProjectCredentials
) -> None:
    """It once stopped after 30 rounds (150,000 codes) and called the rest collisions."""
    _, pool_id = _pool(database, project.project.id)
    count = 35 * 100
    config = CodeConfig(count, length=12)
    report = generate_codes(database, project.project.id, pool_id, config, chunk=100)
    assert (report.added, report.rejected, report.rows) == (count, 0, [])
    with database.reader() as session:
        assert pool_stats(session, pool_id).available == count


def test_generation_stops_honestly_when_the_project_holds_the_whole_space(
    database: Database, project: ProjectCredentials
) -> None:
    _, pool_id = _pool(database, project.project.id)
    _, other_pool = _pool_second(database, project.project.id)
    full = CodeConfig(count=100, pattern="Q##")
    assert generate_codes(database, project.project.id, other_pool, full).added == 100
    report = generate_codes(database, project.project.id, pool_id, CodeConfig(5, pattern="Q##"))
    assert (report.added, report.rejected) == (0, 5)
    assert "5 codes could not be made" in report.rows[0]["reason"], report.rows
    assert "can make 100 codes" in report.rows[0]["reason"], report.rows
