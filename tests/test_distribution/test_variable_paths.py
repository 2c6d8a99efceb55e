"""variable_paths: the plain paths a template reads, and when a row can skip its render."""

from __future__ import annotations

from distribution.bulk import create_job, preflight
from distribution.bulk.variable_paths import variable_paths
from distribution.customers.store import upsert_customers
from distribution.storage.db import Database
from tests.builders import bulk_setup, bulk_spec, publish_template
from tests.conftest import ProjectCredentials
from tests.test_distribution.engine_helpers import LINKS


def test_plain_paths_filters_and_tests_are_followed() -> None:
    found = variable_paths(
        [
            "Hi {{ customer.first_name }}",
            '<p>{{ code.code | upper }} {{ code["referral_url"] }}'
            "{% if customer.metadata.tier is defined %}!{% endif %}</p>",
            None,
        ]
    )
    assert found.simple
    assert found.paths == {
        ("customer", "first_name"),
        ("code", "code"),
        ("code", "referral_url"),
        ("customer", "metadata", "tier"),
    }
    context = {
        "customer": {"first_name": "Ana", "metadata": {"tier": "gold"}},
        "code": {"code": "X", "referral_url": "https://x"},
    }
    assert found.all_present(context)
    assert not found.all_present({**context, "customer": {"first_name": "Ana", "metadata": {}}})


def test_split_separates_one_variable_from_the_rest() -> None:
    found = variable_paths(
        ["{{ customer.first_name }} {{ customer.metadata.tier }} {{ code.code }}"]
    )
    per_customer, shared = found.split("customer")
    assert per_customer.paths == {("first_name",), ("metadata", "tier")}
    assert shared.paths == {("code", "code")}
    assert per_customer.all_present({"first_name": "Ana", "metadata": {"tier": "gold"}})
    assert not per_customer.all_present({"first_name": "Ana", "metadata": {}})
    # A template that prints the whole variable needs it in the shared part.
    whole, rest = variable_paths(["{{ customer }} {{ customer.name }}"]).split("customer")
    assert whole.paths == {("name",)}
    assert rest.paths == {("customer",)}
    unfollowed = variable_paths(["{% set n = customer.name %}{{ n }}"]).split("customer")
    assert not any(part.simple for part in unfollowed)


def test_loops_assignments_calls_and_computed_keys_are_not_simple() -> None:
    for source in (
        "{% for item in order.items %}{{ item.name }}{% endfor %}",
        "{% set name = customer.name %}{{ name }}",
        "{{ customer.name.upper() }}",
        "{{ customer.metadata[customer.locale] }}",
        "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(1) }}",
        "{{ broken",
    ):
        found = variable_paths([source])
        assert not found.simple, source
        assert not found.all_present({"customer": {}, "order": {}})


def test_preflight_still_finds_every_row_missing_a_variable_among_complete_ones(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    ids = bulk_setup(database, project_id, 40, 40)
    ids["template"] = publish_template(
        database,
        project_id,
        subject="Hi {{ customer.first_name }}",
        body="<p>{{ customer.metadata.nickname }}: {{ code.code }}</p>",
    )
    # Every tenth customer (r0, r10, r20, r30) lacks the nickname, spread through the audience.
    nicknamed = [
        {"source_id": f"r{i}", "metadata": {"wave": "one", "nickname": f"n{i}"}}
        for i in range(40)
        if i % 10
    ]
    with database.session() as session:
        upsert_customers(session, project_id, nicknamed, default_region="US")
        job = create_job(session, project_id, bulk_spec(ids), actor="t")
        report = preflight(session, job, LINKS)
    assert report["channels"][0]["sendable"] == 36
    assert report["channels"][0]["render_failures"] == 4
    assert {tuple(f["missing"]) for f in report["render_failures"]} == {
        ("customer.metadata.nickname",)
    }
