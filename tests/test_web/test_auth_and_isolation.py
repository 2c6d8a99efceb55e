"""Credentials, key revocation and project isolation."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import ProjectCredentials, make_project

Client = TestClient[Litestar]


def test_missing_or_wrong_credentials_get_401_problem(raw_client: Client) -> None:
    raw_client.headers.clear()
    response = raw_client.get("/v1/customers")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 401
    wrong = raw_client.get("/v1/customers", headers={"X-App-Id": "app_x", "X-App-Token": "t"})
    assert wrong.status_code == 401


def test_a_wrong_token_for_a_real_app_id_is_refused(
    raw_client: Client, api_project: ProjectCredentials
) -> None:
    headers = {"X-App-Id": api_project.app_id, "X-App-Token": api_project.token + "x"}
    assert raw_client.get("/v1/customers", headers=headers).status_code == 401


def test_new_key_is_shown_once_and_can_be_revoked(client: Client) -> None:
    created = client.post("/v1/api-keys", json={"name": "crm"}).json()
    assert created["token"].startswith("tok_")
    listed = client.get("/v1/api-keys").json()
    assert all(k["token"] is None for k in listed)
    assert created["id"] in {k["id"] for k in listed}
    headers = {"X-App-Id": created["app_id"], "X-App-Token": created["token"]}
    assert client.get("/v1/customers", headers=headers).status_code == 200
    assert client.delete(f"/v1/api-keys/{created['id']}").status_code == 204
    assert client.get("/v1/customers", headers=headers).status_code == 401


def test_one_project_cannot_read_change_or_detect_anothers_customers(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    mine = client.post("/v1/customers", json={"source_id": "secret-1", "name": "Mine"}).json()
    other: ProjectCredentials = make_project(app_database)
    client.headers.update(other.headers)

    # Reading by id or by source id looks exactly like a customer that does not exist.
    by_id = client.get(f"/v1/customers/{mine['id']}")
    never = client.get("/v1/customers/cust_doesnotexist00000000000000")
    assert by_id.status_code == never.status_code == 404
    assert by_id.json()["detail"].replace(mine["id"], "X") == never.json()["detail"].replace(
        "cust_doesnotexist00000000000000", "X"
    )
    assert client.get("/v1/customers/secret-1").status_code == 404
    assert client.get("/v1/customers").json()["customers"] == []
    assert "secret-1" not in client.get("/v1/customers/export").text

    # Changing: the same source_id creates the other project's own customer...
    theirs = client.post("/v1/customers", json={"source_id": "secret-1", "name": "Theirs"}).json()
    assert theirs["id"] != mine["id"]
    # ...and erasing by our id is a 404 that changes nothing.
    assert client.delete(f"/v1/customers/{mine['id']}").status_code == 404

    client.headers.update(api_project.headers)
    still = client.get(f"/v1/customers/{mine['id']}").json()
    assert still["name"] == "Mine"


def test_template_variables_need_credentials_as_documented(
    raw_client: Client, api_project: ProjectCredentials
) -> None:
    raw_client.headers.clear()
    refused = raw_client.get("/v1/templates/variables")
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    answered = raw_client.get("/v1/templates/variables", headers=api_project.headers)
    assert answered.status_code == 200
    assert "customer" in answered.json()["variables"]
