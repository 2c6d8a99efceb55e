"""The editor's JSON API answers another project's ids exactly as ids that do not exist."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import ProjectCredentials, make_project
from tests.test_web.ui_sign_in import header_token, make_user, sign_in

Client = TestClient[Litestar]
MADE_UP = "zz_made_up_0000000000000000000000"


def their_objects(client: Client, other: ProjectCredentials) -> dict[str, str]:
    """A template (variant, version), a customer and a distribution of another project."""
    headers = other.headers
    template = client.post(
        "/v1/templates",
        json={"name": "Theirs", "channel": "sms", "category": "transactional", "body": "Hi"},
        headers=headers,
    )
    assert template.status_code == 201, template.text
    detail = template.json()
    customer = client.post("/v1/customers", json={"source_id": "theirs-1"}, headers=headers)
    assert customer.status_code in (200, 201), customer.text
    distribution = client.post(
        "/v1/distributions",
        json={
            "name": "Theirs",
            "trigger": "code.assigned",
            "channels": [{"channel": "sms", "template": detail["id"], "provider": "capture"}],
        },
        headers=headers,
    )
    assert distribution.status_code == 201, distribution.text
    return {
        "template": detail["id"],
        "variant": detail["variants"][0]["id"],
        "version": detail["versions"][0]["id"],
        "customer": customer.json()["id"],
        "distribution": distribution.json()["id"],
    }


def answer(client: Client, method: str, path: str, token: str, body: Any = None) -> Any:
    response = client.request(method, path, json=body, headers={"X-CSRF-Token": token})
    return response.status_code, response.text


def test_another_projects_ids_look_like_made_up_ones(
    app: Litestar, raw_client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    other = make_project(app_database)
    theirs = their_objects(raw_client, other)
    editor = TestClient(app, base_url="http://127.0.0.1")
    sign_in(editor, make_user(app_database, api_project, "editor").email)
    token = header_token(editor)
    save = {"body": "Hi again", "body_format": "text"}
    calls = [
        ("POST", "/ui/v1/templates/{template}/versions", save),
        ("POST", "/ui/api/templates/{template}/resolve", {}),
        ("POST", "/ui/v1/templates/{template}/versions/{version}/restore", {}),
        ("GET", "/ui/v1/templates/{template}/versions/{version}", None),
        ("GET", "/ui/v1/templates/{template}/versions/{version}/compare", None),
        ("GET", "/templates/{template}/versions/{version}", None),
        ("GET", "/ui/api/customers/{customer}/context", None),
        ("GET", "/ui/api/distributions/{distribution}/counts", None),
    ]
    made_up = dict.fromkeys(theirs, MADE_UP)
    for method, path, body in calls:
        real = answer(editor, method, path.format(**theirs), token, body)
        fake = answer(editor, method, path.format(**made_up), token, body)
        # The same status, and the same words once each answer's own ids are blanked out.
        blank = re.compile("|".join([*theirs.values(), MADE_UP]))
        assert (real[0], blank.sub("X", real[1])) == (fake[0], blank.sub("X", fake[1])), path
        assert real[0] in (404, 422), (path, real)
