"""The editor's test sends are recorded as messages marked ``test``: in GET /v1/messages (and
filterable there), in the delivery feed, with what was sent."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import ProjectCredentials
from tests.test_web.ui_sign_in import header_token, make_user, sign_in


def test_a_test_send_is_a_message_marked_test(
    app: Litestar,
    client: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
) -> None:
    created = client.post(
        "/v1/templates",
        json={"name": "Tested", "channel": "sms", "category": "transactional", "body": "x"},
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    editor = TestClient(app, base_url="http://127.0.0.1")
    sign_in(editor, make_user(app_database, api_project, "editor").email)
    headers = {"X-CSRF-Token": header_token(editor)}
    sent = editor.post(
        "/ui/api/test-send",
        json={
            "channel": "sms",
            "to": "+14155552671",
            "provider": "capture",
            "body": "Hi {{ customer.first_name }}",
            "context": {"customer": {"first_name": "Ada"}},
            "template_id": template_id,
        },
        headers=headers,
    )
    assert sent.status_code == 200, sent.text
    message_id = sent.json()["message_id"]

    [listed] = client.get("/v1/messages?test=true").json()["messages"]
    assert listed["id"] == message_id
    assert listed["test"] is True
    assert listed["status"] == "sent"
    assert listed["recipient"] == "+14155552671"
    assert listed["template_id"] == template_id
    assert listed["distribution_id"] is None
    assert listed["bulk_job_id"] is None
    assert client.get("/v1/messages?test=false").json()["messages"] == []
    assert [m["id"] for m in client.get("/v1/messages").json()["messages"]] == [message_id]
    one = client.get(f"/v1/messages/{message_id}").json()
    assert one["content"] == {"body": "Hi Ada"}
    assert one["history"][0]["detail"].startswith("test send from the editor")

    feed = editor.get("/ui/api/deliveries?test=true").json()["rows"]
    assert [(r["id"], r["test"]) for r in feed] == [(message_id, True)]
    assert editor.get("/ui/api/deliveries?test=false").json()["rows"] == []


def test_a_template_of_another_project_is_refused_before_sending(
    app: Litestar,
    client: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
) -> None:
    editor = TestClient(app, base_url="http://127.0.0.1")
    sign_in(editor, make_user(app_database, api_project, "editor").email)
    sent = editor.post(
        "/ui/api/test-send",
        json={
            "channel": "sms",
            "to": "+14155552671",
            "body": "x",
            "template_id": "tpl_not_ours",
        },
        headers={"X-CSRF-Token": header_token(editor)},
    )
    assert sent.status_code == 404
    assert client.get("/v1/messages?test=true").json()["messages"] == []
    captured = app.state.providers.captured(api_project.project.id).messages
    assert not captured  # refused before sending
