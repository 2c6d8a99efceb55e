"""Templates over the API: versions, publishing, restore, compare, resolution, preview."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.customers.store import get_customer
from distribution.models import Project
from distribution.storage.db import Database
from distribution.template_store import build_context, get_version, render_version
from templates import MissingVariablesError
from tests.conftest import ProjectCredentials, make_project

Client = TestClient[Litestar]

REFERRAL = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hi {{ customer.first_name }},</mj-text>
        <mj-text>Your code is <strong>{{ code.code }}</strong>.</mj-text>
        <mj-button href="{{ code.referral_link }}">Share</mj-button>
        <mj-text><a href="{{ links.unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


def create(client: Client, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Referral invite",
        "channel": "email",
        "category": "marketing",
        "subject": "{{ customer.first_name }}, a gift for you",
        "body": REFERRAL,
    } | fields
    response = client.post("/v1/templates", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def add(client: Client, template_id: str, **fields: Any) -> dict[str, Any]:
    response = client.post(f"/v1/templates/{template_id}/versions", json=fields)
    assert response.status_code == 201, response.text
    saved: dict[str, Any] = response.json()
    return saved


def publish(client: Client, template_id: str, version_id: str) -> dict[str, Any]:
    response = client.post(f"/v1/templates/{template_id}/publish", json={"version_id": version_id})
    assert response.status_code == 200, response.text
    published: dict[str, Any] = response.json()
    return published


def test_create_add_publish(client: Client, api_project: ProjectCredentials) -> None:
    template = create(client)
    assert template["status"] == "draft"
    assert template["errors"] == []
    [variant] = template["variants"]
    first = variant["latest_draft"]
    assert first["number"] == 1
    assert first["created_by"] == api_project.app_id
    saved = add(client, template["id"], subject="Hi {{ customer.first_name }}", body=REFERRAL)
    assert saved["publishable"] is True
    assert saved["version"]["number"] == 2
    assert saved["version"]["status"] == "draft"
    live = publish(client, template["id"], saved["version"]["id"])
    assert live["status"] == "live"
    assert live["published_by"] == api_project.app_id
    detail = client.get(f"/v1/templates/{template['id']}").json()
    assert detail["status"] == "live"
    assert detail["variants"][0]["live_version"]["id"] == saved["version"]["id"]
    assert detail["variants"][0]["latest_draft"] is None
    assert [v["number"] for v in detail["versions"]] == [2, 1]
    assert [v["status"] for v in detail["versions"]] == ["live", "draft"]
    # Version 1 is untouched, and there is no way to edit a version in place.
    old = client.get(f"/v1/templates/{template['id']}/versions/{first['id']}").json()
    assert old["subject"] == "{{ customer.first_name }}, a gift for you"
    url = f"/v1/templates/{template['id']}/versions/{first['id']}"
    assert client.put(url, json={"body": "x"}).status_code == 405
    assert client.patch(url, json={"body": "x"}).status_code == 405


def test_drafts_save_with_errors_and_publishing_names_the_line(client: Client) -> None:
    template = create(client)
    broken = add(
        client,
        template["id"],
        subject="Hi",
        body="<mjml><mj-body>\n<mj-text>{{ customer.first_name }\n"
        "<a href='{{ links.unsubscribe_url }}'>x</a></mj-text></mj-body></mjml>",
    )
    assert broken["publishable"] is False
    [error] = broken["errors"]
    assert error["part"] == "body"
    assert error["line"] == 2
    assert error["column"] >= 1
    response = client.post(
        f"/v1/templates/{template['id']}/publish", json={"version_id": broken["version"]["id"]}
    )
    assert response.status_code == 422
    [problem] = response.json()["errors"]
    assert problem["field"] == "body"
    assert problem["reason"].startswith("line 2, column ")


def test_marketing_email_without_unsubscribe_is_a_warning_then_a_refusal(client: Client) -> None:
    template = create(client, body="<mjml><mj-body><mj-text>Buy</mj-text></mj-body></mjml>")
    assert "unsubscribe" in template["errors"][0]["message"]
    version_id = template["variants"][0]["latest_draft"]["id"]
    response = client.post(
        f"/v1/templates/{template['id']}/publish", json={"version_id": version_id}
    )
    assert response.status_code == 422
    transactional = create(
        client,
        name="Receipt",
        category="transactional",
        body="<mjml><mj-body><mj-text>Thanks</mj-text></mj-body></mjml>",
    )
    assert transactional["errors"] == []


@pytest.mark.parametrize(
    "hidden",
    ["{# {{ links.unsubscribe_url }} #}", "<!-- <a href='{{ links.unsubscribe_url }}'>x</a> -->"],
)
def test_an_unsubscribe_link_recipients_never_see_does_not_count(
    client: Client, hidden: str
) -> None:
    body = f"<mjml><mj-body><mj-text>Buy {hidden}</mj-text></mj-body></mjml>"
    template = create(client, name=f"Hidden {len(hidden)}", body=body)
    assert "unsubscribe" in template["errors"][0]["message"], template["errors"]


def test_restore_and_compare(client: Client) -> None:
    template = create(client)
    tid = template["id"]
    v1 = template["variants"][0]["latest_draft"]
    publish(client, tid, v1["id"])
    v2 = add(client, tid, subject="New subject", body=REFERRAL.replace("Share", "Invite"))
    publish(client, tid, v2["version"]["id"])
    again = client.post(f"/v1/templates/{tid}/publish", json={"version_id": v1["id"]})
    assert again.status_code == 409
    compared = client.get(f"/v1/templates/{tid}/versions/{v1['id']}/compare").json()
    assert compared["live"]["id"] == v2["version"]["id"]
    assert set(compared["diffs"]) == {"subject", "body"}
    subject_lines = compared["diffs"]["subject"].splitlines()
    assert subject_lines[-2:] == ["-New subject", f"+{v1['subject']}"], subject_lines
    assert '+        <mj-button href="{{ code.referral_link }}">Share' in compared["diffs"]["body"]
    draft = client.post(f"/v1/templates/{tid}/versions/{v1['id']}/restore")
    assert draft.status_code == 201, draft.text
    assert draft.json()["version"]["status"] == "draft"
    assert draft.json()["version"]["note"] == "restored from version 1"
    restored = client.post(
        f"/v1/templates/{tid}/versions/{v1['id']}/restore", json={"publish": True, "note": "undo"}
    ).json()
    assert restored["version"]["number"] == 4
    assert restored["version"]["status"] == "live"
    assert restored["version"]["body"] == v1["body"]
    detail = client.get(f"/v1/templates/{tid}").json()
    assert [v["status"] for v in detail["versions"]] == ["live", "draft", "retired", "retired"]


def _segment(client: Client, name: str) -> str:
    response = client.post(
        "/v1/segments",
        json={"name": name, "filter": {"field": "email", "op": "exists", "value": True}},
    )
    assert response.status_code == 201, response.text
    segment_id: str = response.json()["id"]
    return segment_id


@pytest.fixture
def variants(client: Client) -> tuple[str, dict[str, str]]:
    """An SMS template with live variants; returns its id and the segment ids."""
    segments = {"gold": _segment(client, "gold"), "silver": _segment(client, "silver")}
    template = create(
        client,
        name="Code SMS",
        channel="sms",
        category="transactional",
        subject=None,
        body="default",
    )
    publish(client, template["id"], template["variants"][0]["latest_draft"]["id"])
    for key, body in [
        ({"locale": "pt"}, "pt"),
        ({"campaign_id": "spring"}, "spring"),
        ({"segment_id": segments["gold"]}, "gold"),
        ({"campaign_id": "spring", "segment_id": segments["gold"]}, "spring+gold"),
        ({"campaign_id": "spring", "locale": "pt-BR"}, "spring pt-BR"),
    ]:
        publish(
            client, template["id"], add(client, template["id"], body=body, **key)["version"]["id"]
        )
    add(client, template["id"], body="draft only", locale="fr")
    return template["id"], segments


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "default"),
        ({"locale": "pt-BR"}, "pt"),
        ({"locale": "fr-FR"}, "default"),
        ({"campaign_id": "spring"}, "spring"),
        ({"campaign_id": "spring", "locale": "pt-BR"}, "spring pt-BR"),
        ({"campaign_id": "autumn", "segment_id": ["gold"]}, "gold"),
        ({"campaign_id": "spring", "segment_id": ["gold"]}, "spring+gold"),
        (
            {"campaign_id": "spring", "segment_id": ["silver", "gold"], "locale": "en"},
            "spring+gold",
        ),
    ],
)
def test_resolution_through_the_api(
    client: Client, variants: tuple[str, dict[str, str]], params: dict[str, Any], expected: str
) -> None:
    template_id, segments = variants
    if "segment_id" in params:
        params = params | {"segment_id": [segments[s] for s in params["segment_id"]]}
    response = client.get(f"/v1/templates/{template_id}/resolve", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["variant"]["live_version"]["body"] == expected


def test_preview_with_inline_sample(client: Client) -> None:
    response = client.post(
        "/v1/templates/preview",
        json={
            "channel": "email",
            "subject": "{{ customer.first_name }}, {{ reward.amount | money(reward.currency) }}",
            "body": REFERRAL,
            "sample": {"customer": {"first_name": "Ada"}, "code": {"code": "ADA-42"}},
        },
    )
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["subject"] == "Ada, R$\xa025,00"
    assert "ADA-42" in shown["html"]
    assert "Hi Ada," in shown["text"]
    assert shown["sms"] is None
    assert shown["errors"] == []
    assert shown["missing"] == []


def test_preview_sms_reports_encoding_and_missing(client: Client) -> None:
    shown = client.post(
        "/v1/templates/preview",
        json={"channel": "sms", "body": "Olá {{ event.data.nickname }} 🎉 {{ code.code }}"},
    ).json()
    assert shown["sms"]["encoding"] == "UCS-2"
    assert shown["sms"]["segments"] == 1
    assert "🎉" in shown["sms"]["ucs2_characters"]
    assert "PARTY POPPER" in shown["sms"]["ucs2_names"]
    assert "ANA-7K2Q" in shown["sms"]["body"]
    assert shown["missing"] == ["event.data.nickname"]
    assert shown["html"] is None
    assert shown["sms"]["parts"] == [shown["sms"]["body"]]


def test_preview_sms_parts_are_its_billed_segments(client: Client) -> None:
    sms = client.post(
        "/v1/templates/preview", json={"channel": "sms", "body": "{{ 'a' * 150 }} {{ 'b' * 20 }}"}
    ).json()["sms"]
    assert (sms["encoding"], sms["segments"], sms["length"]) == ("GSM-7", 2, 171)
    assert sms["parts"] == ["a" * 150 + " bb", "b" * 18]


def test_preview_with_a_stored_customer(client: Client) -> None:
    stored = client.post(
        "/v1/customers", json={"source_id": "shop-42", "name": "Grace Hopper", "metadata": {}}
    )
    assert stored.status_code in (200, 201), stored.text
    nameless = client.post("/v1/customers", json={"source_id": "shop-43", "email": "x@example.com"})
    assert nameless.status_code in (200, 201), nameless.text
    body = {"channel": "sms", "body": "Hi {{ customer.first_name }}, code {{ code.code }}"}
    by_source = client.post("/v1/templates/preview", json=body | {"customer_id": "shop-42"}).json()
    assert by_source["sms"]["body"] == "Hi Grace, code ANA-7K2Q"
    by_id = client.post(
        "/v1/templates/preview", json=body | {"customer_id": stored.json()["id"]}
    ).json()
    assert by_id["sms"]["body"] == by_source["sms"]["body"]
    # A real customer's gaps show: the sample customer's name does not fill them.
    gaps = client.post("/v1/templates/preview", json=body | {"customer_id": "shop-43"}).json()
    assert gaps["missing"] == ["customer.first_name"]
    unknown = client.post("/v1/templates/preview", json=body | {"customer_id": "nobody"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "customer_id"


def test_preview_syntax_error_is_a_200_with_the_line(client: Client) -> None:
    response = client.post(
        "/v1/templates/preview",
        json={
            "channel": "email",
            "subject": "Hello",
            "body": "<mjml><mj-body>\n<mj-text>\n{% if customer.first_name %}Hi</mj-text>"
            "</mj-body></mjml>",
        },
    )
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert (error["part"], error["line"], error["column"]) == ("body", 3, 1)
    assert "if" in error["message"]


def test_send_mode_render_names_every_missing_variable(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    template = create(client, category="transactional")
    version_id = template["variants"][0]["latest_draft"]["id"]
    publish(client, template["id"], version_id)
    client.post("/v1/customers", json={"source_id": "anon", "email": "anon@example.com"})
    pid = api_project.project.id
    with app_database.reader() as session:
        version = get_version(session, pid, template["id"], version_id)
        customer = get_customer(session, pid, "anon")
        project = session.get(Project, pid)
        assert project is not None
        context = build_context(customer, project=project, extra={"code": {"code": "X-1"}})
    with pytest.raises(MissingVariablesError) as caught:
        render_version(version, context)
    assert set(caught.value.missing) == {
        "customer.first_name",
        "code.referral_link",
        "links.unsubscribe_url",
    }


def test_another_projects_template_is_a_404(
    client: Client, app_database: Database, raw_client: Client
) -> None:
    template = create(client)
    tid = template["id"]
    vid = template["variants"][0]["latest_draft"]["id"]
    other = make_project(app_database)
    raw_client.headers.clear()
    raw_client.headers.update(other.headers)
    for method, url, body in [
        ("GET", f"/v1/templates/{tid}", None),
        ("GET", f"/v1/templates/{tid}/versions/{vid}", None),
        ("GET", f"/v1/templates/{tid}/versions/{vid}/compare", None),
        ("GET", f"/v1/templates/{tid}/resolve", None),
        ("POST", f"/v1/templates/{tid}/versions", {"subject": "x", "body": "x"}),
        ("POST", f"/v1/templates/{tid}/publish", {"version_id": vid}),
        ("POST", f"/v1/templates/{tid}/versions/{vid}/restore", None),
        ("DELETE", f"/v1/templates/{tid}", None),
    ]:
        response = raw_client.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
    assert raw_client.get("/v1/templates").json()["templates"] == []


def test_list_archive_and_filters(client: Client) -> None:
    invite = create(client)
    sms = create(client, name="Code SMS", channel="sms", subject=None, body="{{ code.code }}")
    receipt = create(client, name="Receipt", category="transactional")
    publish(client, sms["id"], sms["variants"][0]["latest_draft"]["id"])
    assert client.delete(f"/v1/templates/{receipt['id']}").status_code == 204
    assert client.delete(f"/v1/templates/{receipt['id']}").status_code == 204

    def names(**params: Any) -> list[str]:
        response = client.get("/v1/templates", params=params)
        assert response.status_code == 200, response.text
        return [t["name"] for t in response.json()["templates"]]

    assert names() == ["Code SMS", "Referral invite"]
    assert names(status="live") == ["Code SMS"]
    assert names(status="draft", channel="email") == ["Referral invite"]
    assert names(status="archived") == ["Receipt"]
    assert names(q="INVITE") == ["Referral invite"]
    assert client.get("/v1/templates", params={"status": "gone"}).status_code == 422
    archived = client.get(f"/v1/templates/{receipt['id']}").json()
    assert archived["status"] == "archived"
    assert archived["archived_at"] is not None
    late = client.post(
        f"/v1/templates/{receipt['id']}/versions", json={"subject": "x", "body": "x"}
    )
    assert late.status_code == 409
    resolved = client.get(f"/v1/templates/{receipt['id']}/resolve").json()
    assert resolved["variant"] is None
    assert "archived" in resolved["reason"]
    assert invite["status"] == "draft"


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/v1/templates", {"name": "x", "channel": "fax", "category": "marketing"}, "channel"),
        ("/v1/templates", {"name": "", "channel": "sms", "category": "marketing"}, "name"),
        (
            "/v1/templates",
            {"name": "x", "channel": "sms", "category": "marketing", "subject": "s", "body": "b"},
            "subject",
        ),
        ("VERSIONS", {"subject": "s", "body": "b", "locale": "not a locale"}, "locale"),
        ("VERSIONS", {"subject": "s", "body": "b", "segment_id": "seg_nope"}, "segment_id"),
        ("VERSIONS", {"body": "b"}, "subject"),
        ("/v1/templates/preview", {"channel": "sms", "body": "x", "subject": "s"}, "subject"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: Client, url: str, body: dict[str, Any], field: str
) -> None:
    if url == "VERSIONS":
        url = f"/v1/templates/{create(client)['id']}/versions"
    response = client.post(url, json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_variables_endpoint(client: Client) -> None:
    response = client.get("/v1/templates/variables")
    assert response.status_code == 200
    schema = response.json()
    assert schema["variables"]["customer"]["fields"]["first_name"]["example"] == "Ana"
    assert "money" in {f["name"] for f in schema["filters"]}
