"""Voucherify's official Python SDK (PyPI ``voucherify``) against a real ``dm serve``.

Every operation of the SDK's ``CustomersApi`` is called, plus ``AsyncActionsApi
.get_async_action`` for the async ones. What each maps to: docs/voucherify-api.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from voucherify import ApiClient, AsyncActionsApi, Configuration, CustomersApi
from voucherify.exceptions import ApiException, NotFoundException, ServiceException
from voucherify.models.customers_create_request_body import CustomersCreateRequestBody
from voucherify.models.customers_create_request_body_address import (
    CustomersCreateRequestBodyAddress,
)
from voucherify.models.customers_metadata_update_in_bulk_request_body import (
    CustomersMetadataUpdateInBulkRequestBody,
)
from voucherify.models.customers_update_in_bulk_request_body import (
    CustomersUpdateInBulkRequestBody,
)
from voucherify.models.customers_update_request_body import CustomersUpdateRequestBody
from voucherify.models.parameter_order_list_customers import ParameterOrderListCustomers

from tests.conftest import BACKENDS, migrated_database
from tests.service_process import Service, api_credentials, wait_until

pytestmark = pytest.mark.slow


class Project:
    """One project of the service, seen through the SDK and through plain HTTP."""

    def __init__(self, service: Service, name: str) -> None:
        self.headers = api_credentials(service.run("projects", "create", name))
        config = Configuration(host=service.url, api_key=dict(self.headers))
        self.sdk = ApiClient(config)
        self.customers = CustomersApi(self.sdk)
        self.actions = AsyncActionsApi(self.sdk)
        self.http = httpx.Client(base_url=service.url, headers=self.headers, timeout=30)

    def finished(self, action_id: str) -> dict[str, Any]:
        """The async action once it is done (it runs in the service after the answer)."""
        found: dict[str, Any] = {}

        def done() -> bool:
            found.update(self.actions.get_async_action(action_id).to_dict())
            return found["status"] in ("DONE", "FAILED")

        wait_until(done, lambda: f"async action still {found.get('status')}", limit=60)
        return found

    def create(self, **fields: Any) -> Any:
        return self.customers.create_customer(CustomersCreateRequestBody(**fields))


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("voucherify-sdk")
    with migrated_database(request.param, folder) as url, Service(folder, url) as running:
        running.start()
        yield running


@pytest.fixture
def project(service: Service, request: pytest.FixtureRequest) -> Iterator[Project]:
    created = Project(service, request.node.name[:60])
    yield created
    created.http.close()


def _reason(error: ApiException) -> dict[str, Any]:
    """The problem document the SDK's exception carries."""
    assert error.body is not None
    body: dict[str, Any] = json.loads(error.body)
    return body


def test_create_get_update_and_delete_through_the_sdk(project: Project) -> None:
    created = project.create(
        source_id="ada",
        name="Ada Lovelace",
        email="ada@example.com",
        birthdate=date(1815, 12, 10),
        address=CustomersCreateRequestBodyAddress(city="London", country="GB"),
        metadata={"tier": "gold"},
    )
    assert created.id
    assert created.source_id == "ada"
    assert created.birthdate == date(1815, 12, 10)
    assert created.birthday == date(1815, 12, 10)
    assert created.system_metadata == {}

    updated = project.customers.update_customer(
        "ada", CustomersUpdateRequestBody(name="Ada King", metadata={"orders": 3})
    )
    assert updated.id == created.id
    assert updated.name == "Ada King"
    assert updated.metadata == {"tier": "gold", "orders": 3}  # merged key by key
    assert updated.email == "ada@example.com"  # absent fields stay

    by_id = project.customers.get_customer(created.id)
    assert by_id.name == "Ada King"
    assert by_id.address is not None
    assert by_id.address.city == "London"

    # birthday is Voucherify's deprecated name of birthdate: either one is stored.
    old_name = project.create(source_id="bea", birthday=date(1990, 1, 31))
    assert old_name.birthdate == date(1990, 1, 31)

    project.customers.delete_customer(created.id)
    with pytest.raises(NotFoundException) as gone:
        project.customers.get_customer(created.id)
    assert _reason(gone.value)["key"] == "not_found"


def test_refusals_carry_voucherifys_error_members(project: Project) -> None:
    with pytest.raises(ApiException) as refused:
        project.create(source_id="x", email="not an address")
    problem = _reason(refused.value)
    assert refused.value.status == 422
    assert problem["code"] == 422
    assert problem["key"] == "invalid_payload"
    assert problem["message"] == problem["title"] == "Invalid input"
    assert "email:" in problem["details"]
    assert problem["errors"][0]["field"] == "email"  # the RFC 9457 document is still whole

    with pytest.raises(NotFoundException) as missing:
        project.customers.update_customer("nobody", CustomersUpdateRequestBody(name="N"))
    assert "'nobody' was not found" in _reason(missing.value)["details"]

    # Voucherify's fields the service sets are refused with that reason, not as unknown.
    answer = project.http.post("/v1/customers", json={"system_metadata": {"a": 1}})
    assert answer.status_code == 422
    reason = "is set by the service (read-only)"
    assert answer.json()["errors"] == [{"field": "system_metadata", "reason": reason}]


def _ids(page: Any) -> list[str]:
    return [c.id for c in page.customers]


def test_list_pages_filters_orders_and_counts(project: Project) -> None:
    made = [
        project.create(
            source_id=f"c{i}",
            name="Twin" if i in (3, 7) else f"Customer {i}",
            address=CustomersCreateRequestBodyAddress(city="Porto" if i % 2 else "Lisbon"),
        )
        for i in range(12)
    ]
    everyone = [c.id for c in made]

    # Voucherify's page: an SDK loop over pages ends, and sees every customer once.
    seen: list[str] = []
    for number in range(1, 10):
        page = project.customers.list_customers(limit=5, page=number)
        assert page.total == 12
        seen += _ids(page)
        if not page.has_more:
            break
    assert seen == everyone

    newest_first = project.customers.list_customers(
        limit=100, order=ParameterOrderListCustomers.MINUS_CREATED_AT
    )
    assert _ids(newest_first) == everyone[::-1]
    by_source_id = project.customers.list_customers(
        limit=100, order=ParameterOrderListCustomers.MINUS_SOURCE_ID
    )
    assert [c.source_id for c in by_source_id.customers] == sorted(
        (f"c{i}" for i in range(12)), reverse=True
    )

    # Voucherify's cursor: the created_at of the last customer seen.
    seen = []
    cursor: datetime | None = None
    while True:
        page = project.customers.list_customers(limit=5, starting_after=cursor)
        seen += _ids(page)
        if not page.has_more:
            break
        cursor = page.customers[-1].created_at
    assert seen == everyone

    twins = project.customers.list_customers(name="twin")
    assert sorted(_ids(twins)) == sorted([made[3].id, made[7].id])
    assert twins.total == 2
    in_porto = project.customers.list_customers(city="Porto", limit=100)
    assert _ids(in_porto) == everyone[1::2]
    assert in_porto.total == 6

    middle = made[6].created_at
    assert middle is not None
    before = project.customers.list_customers(created_at_before=middle, limit=100)
    after = project.customers.list_customers(created_at_after=middle, limit=100)
    assert _ids(before) == everyone[:6]
    assert _ids(after) == everyone[6:]

    last_write = made[-1].updated_at
    assert last_write is not None
    project.customers.update_customer("c0", CustomersUpdateRequestBody(name="Changed"))
    changed = project.customers.list_customers(
        updated_at_after=last_write + timedelta(microseconds=1), limit=100
    )
    assert _ids(changed) == [made[0].id]
    later = project.customers.list_customers(updated_at_after=datetime.now(UTC) + timedelta(1))
    assert later.customers == []
    assert later.total == 0


def test_segments_of_a_customer_and_segment_filter(project: Project) -> None:
    project.create(source_id="gold", metadata={"tier": "gold"})
    project.create(source_id="plain", metadata={"tier": "none"})
    answer = project.http.post(
        "/v1/segments",
        json={
            "name": "Gold",
            "filter": {"field": "metadata.tier", "op": "eq", "value": "gold"},
        },
    )
    assert answer.status_code == 201, answer.text
    segment_id = answer.json()["id"]

    segments = project.customers.list_customer_segments("gold")
    assert segments.total == 1
    assert segments.data is not None
    assert [(s.id, s.name) for s in segments.data] == [(segment_id, "Gold")]
    assert project.customers.list_customer_segments("plain").data == []

    members = project.customers.list_customers(segment_id=segment_id)
    assert [c.source_id for c in members.customers] == ["gold"]

    # A birthdate is a text field of segment filters: a year is its first five characters.
    project.create(source_id="older", birthdate=date(1979, 12, 31))
    project.create(source_id="younger", birthdate=date(1980, 1, 1))
    born_1979 = {"field": "birthdate", "op": "starts_with", "value": "1979-"}
    answer = project.http.post("/v1/segments", json={"name": "1979", "filter": born_1979})
    assert answer.status_code == 201, answer.text
    members = project.customers.list_customers(segment_id=answer.json()["id"])
    assert [c.source_id for c in members.customers] == ["older"]
    assert [s.name for s in project.customers.list_customer_segments("older").data or []] == [
        "1979"
    ]


def test_unsupported_parameters_and_operations_say_why(project: Project) -> None:
    unknown = project.http.get("/v1/customers", params={"ciity": "Porto"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "ciity"
    bad_order = project.http.get("/v1/customers", params={"order": "name"})
    assert bad_order.status_code == 422
    assert bad_order.json()["errors"][0]["field"] == "order"
    bad_cursor = project.http.get("/v1/customers", params={"starting_after": "2024-13-45"})
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["field"] == "starting_after"

    project.create(source_id="someone")
    with pytest.raises(ServiceException) as activity:
        project.customers.list_customer_activity("someone")
    assert activity.value.status == 501
    assert "keeps no customer activity" in _reason(activity.value)["details"]
    with pytest.raises(ServiceException) as redeemables:
        project.customers.list_customer_redeemables("someone")
    assert redeemables.value.status == 501
    assert _reason(redeemables.value)["key"] == "not_implemented"


def test_permanent_deletion_erases_the_customer(project: Project) -> None:
    created = project.create(source_id="leaving", email="leaving@example.com")
    deletion = project.customers.customer_permanently_deletion("leaving")
    assert deletion.status == "DONE"
    assert deletion.related_object_id == created.id
    with pytest.raises(NotFoundException):
        project.customers.get_customer(created.id)
    # The source_id is free again.
    assert project.create(source_id="leaving").id != created.id


def test_bulk_update_keeps_valid_rows_and_reports_invalid_ones(project: Project) -> None:
    project.create(source_id="old", name="Old name")
    answer = project.customers.update_customers_in_bulk(
        [
            CustomersUpdateInBulkRequestBody(source_id="old", name="New name"),
            CustomersUpdateInBulkRequestBody(source_id="bad", email="nope"),
            CustomersUpdateInBulkRequestBody(name="No source id"),
            CustomersUpdateInBulkRequestBody(source_id="new", birthdate=date(2000, 2, 29)),
        ]
    )
    assert answer.async_action_id
    action = project.finished(answer.async_action_id)
    assert action["status"] == "DONE"
    assert action["operation_status"] == "SUCCESS"
    assert action["type"] == "CUSTOMERS_BULK_UPDATE"
    assert action["progress"] == 100
    result = action["result"]
    assert [(r["source_id"], r["created"]) for r in result["results"]] == [
        ("old", False),
        ("new", True),
    ]
    assert [(f["index"], f["errors"][0]["field"]) for f in result["failed"]] == [
        (1, "email"),
        (2, "source_id"),
    ]
    assert project.customers.get_customer("old").name == "New name"
    assert project.customers.get_customer("new").birthdate == date(2000, 2, 29)
    with pytest.raises(NotFoundException):
        project.customers.get_customer("bad")


def test_metadata_update_in_bulk(project: Project) -> None:
    project.create(source_id="m1", metadata={"keep": 1, "drop": 2})
    project.create(source_id="m2")
    answer = project.customers.update_customers_metadata_in_bulk(
        CustomersMetadataUpdateInBulkRequestBody(
            source_ids=["m1", "m2", "ghost"], metadata={"vip": True, "drop": None}
        )
    )
    assert answer.async_action_id is not None
    action = project.finished(answer.async_action_id)
    assert action["status"] == "DONE", action
    assert [r["source_id"] for r in action["result"]["results"]] == ["m1", "m2"]
    assert action["result"]["failed"][0]["source_id"] == "ghost"
    assert project.customers.get_customer("m1").metadata == {"keep": 1, "vip": True}
    assert project.customers.get_customer("m2").metadata == {"vip": True}

    # Metadata is checked when the action is asked for: the whole request is refused.
    refused = project.http.post(
        "/v1/customers/metadata/async", json={"source_ids": ["m1"], "metadata": {"a.b": 1}}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "metadata.a.b"


def test_import_csv_is_an_async_action(project: Project, tmp_path: Path) -> None:
    csv = "source_id,name,email,birthdate\ni1,One,one@example.com,1980-05-06\ni2,Two,bad,\n"
    answer = project.customers.import_customers_using_csv(file=csv.encode())
    assert answer.async_action_id is not None
    action = project.finished(answer.async_action_id)
    assert action["type"] == "CUSTOMERS_IMPORT_CSV"
    assert action["result"]["created"] == 1
    assert action["result"]["failed_count"] == 1
    assert action["result"]["failed"] == [
        {"row": 3, "field": "email", "reason": action["result"]["failed"][0]["reason"]}
    ]
    assert project.customers.get_customer("i1").birthdate == date(1980, 5, 6)
    # A file path, as the SDK also takes.
    path = tmp_path / "more.csv"
    path.write_text("source_id\ni3\n")
    second = project.customers.import_customers_using_csv(file=str(path))
    assert second.async_action_id is not None
    assert project.finished(second.async_action_id)["result"]["created"] == 1


def test_projects_see_only_their_own_customers_and_actions(service: Service) -> None:
    first, second = Project(service, "isolation-a"), Project(service, "isolation-b")
    created = first.create(source_id="private", metadata={"tier": "gold"})
    action = first.customers.update_customers_in_bulk(
        [CustomersUpdateInBulkRequestBody(source_id="private", name="P")]
    ).async_action_id
    assert action is not None
    first.finished(action)

    assert second.customers.list_customers().total == 0
    for read in (
        lambda: second.customers.get_customer(created.id),
        lambda: second.customers.list_customer_segments("private"),
        lambda: second.customers.update_customer("private", CustomersUpdateRequestBody()),
        lambda: second.customers.customer_permanently_deletion("private"),
        lambda: second.actions.get_async_action(action),
    ):
        with pytest.raises(NotFoundException):
            read()
    # Their bulk update by the same source_id creates their own customer, not ours.
    theirs = second.customers.update_customers_in_bulk(
        [CustomersUpdateInBulkRequestBody(source_id="private", name="Theirs")]
    ).async_action_id
    assert theirs is not None
    assert second.finished(theirs)["result"]["results"][0]["created"] is True
    assert first.customers.get_customer("private").name == "P"
    first.http.close()
    second.http.close()
