"""The preview's problems list, through the API: it predicts Publish, places MJML problems on
their line, tells unknown variables from values missing in the sample, warns about nulls and
what inboxes do; and the server-side defects of issue 20 (fonts, QR sample, test-send phone
numbers, variant resolution input)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import ProjectCredentials
from tests.test_web.api_templates import published_template, settled_message
from tests.test_web.ui_sign_in import header_token, make_user, sign_in

Client = TestClient[Litestar]

UNSUBSCRIBE = '<a href="{{ links.unsubscribe_url }}">Unsubscribe</a>'


def mjml(inner: str) -> str:
    """A one-column MJML email around `inner` (the first line holds the opening tags)."""
    return (
        "<mjml><mj-body><mj-section><mj-column>\n"
        f"{inner}\n"
        "</mj-column></mj-section></mj-body></mjml>"
    )


def preview(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"channel": "email", "subject": "Hello"} | fields
    answer = client.post("/v1/templates/preview", json=body)
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def codes(shown: dict[str, Any], severity: str | None = None) -> list[str]:
    return [p["code"] for p in shown["problems"] if severity in (None, p["severity"])]


def only(shown: dict[str, Any], code: str) -> dict[str, Any]:
    [problem] = [p for p in shown["problems"] if p["code"] == code]
    return problem


def as_publish_says(problem: dict[str, Any]) -> tuple[str, str]:
    """The (field, reason) Publish gives for a preview problem: the same words, placed."""
    field = {"subject": "subject", "text_body": "text_body"}.get(problem["part"], "body")
    if problem["line"] is None:
        return field, problem["message"]
    return field, f"line {problem['line']}, column {problem['column']}: {problem['message']}"


# Sources Publish refuses, each for one of its rules.
REFUSED = {
    "marketing without an unsubscribe link": ("marketing", "Hi", mjml("<mj-text>Buy</mj-text>")),
    "empty subject": ("transactional", "  ", mjml("<mj-text>Hi</mj-text>")),
    "Jinja syntax error": (
        "transactional",
        "Hi",
        mjml("<mj-text>\n{% if customer.first_name %}Hi</mj-text>"),
    ),
    "MJML never closed": (
        "transactional",
        "Hi",
        "<mjml><mj-body><mj-section>\n  <mj-column>\n    <mj-text>Hi</mj-text>\n",
    ),
    "mj-include": ("transactional", "Hi", mjml('<mj-include path="footer.mjml" />')),
    "subject that renders a line break": (
        "transactional",
        "Hi {{ customer.name }}",
        mjml("<mj-text>Hi</mj-text>"),
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_publish_refusal_is_a_preview_error_in_the_same_words(
    client: Client, case: str
) -> None:
    category, subject, body = REFUSED[case]
    created = client.post(
        "/v1/templates",
        json={
            "name": f"Refused {case}",
            "channel": "email",
            "category": category,
            "subject": subject,
            "body": body,
        },
    )
    assert created.status_code == 201, created.text
    template = created.json()
    sample = {"customer": {"name": "Ada\nBcc: x@example.com"}}
    shown = preview(client, subject=subject, body=body, template_id=template["id"], sample=sample)
    errors = [p for p in shown["problems"] if p["severity"] == "error"]
    assert errors, shown["problems"]
    published = client.post(
        f"/v1/templates/{template['id']}/publish",
        json={"version_id": template["variants"][0]["latest_draft"]["id"]},
    )
    if case == "subject that renders a line break":
        # Publish checks with the schema's sample, where the name has no line break: the
        # preview's error is about this sample, and says which value made it.
        assert published.status_code == 200, published.text
        assert codes(shown, "error") == ["subject-line-break"]
        return
    assert published.status_code == 422, published.text
    refused = {(e["field"], e["reason"]) for e in published.json()["errors"]}
    assert {as_publish_says(p) for p in errors} == refused


def test_the_category_comes_from_the_template_or_the_request(client: Client) -> None:
    body = mjml("<mj-text>Buy</mj-text>")
    assert "unsubscribe-link" in codes(preview(client, body=body, category="marketing"))
    assert codes(preview(client, body=body, category="transactional"), "error") == []
    assert codes(preview(client, body=body), "error") == []  # transactional by default
    missing = client.post(
        "/v1/templates/preview",
        json={"channel": "email", "subject": "s", "body": body, "template_id": "tpl_nope"},
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "body",
    [
        mjml(f"<mj-foo>x</mj-foo><mj-text colour='red'>Hi {UNSUBSCRIBE}</mj-text>"),
        mjml(f"<mj-text>{{{{ coupon.code | default('') }}}} {UNSUBSCRIBE}</mj-text>"),
        mjml(f'<mj-image src="{{{{ code.qr_url }}}}" /><mj-text>{UNSUBSCRIBE}</mj-text>'),
    ],
)
def test_a_source_the_preview_accepts_publishes(client: Client, body: str) -> None:
    shown = preview(client, body=body, category="marketing")
    assert codes(shown, "error") == [], shown["problems"]
    assert codes(shown, "warning")  # warnings are told, and do not block
    published_template(client, {"subject": "Hello", "body": body}, category="marketing")


def test_mjml_unknown_tags_and_attributes_are_warnings_with_their_line(client: Client) -> None:
    body = (
        "<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n"
        '  <mj-foo>x</mj-foo>\n  <mj-text colour="red" color="blue">Hi</mj-text>\n'
        "</mj-column>\n</mj-section>\n</mj-body>\n</mjml>"
    )
    shown = preview(client, body=body)
    tag = only(shown, "mjml-unknown-tag")
    assert (tag["severity"], tag["part"], tag["line"], tag["column"]) == ("warning", "body", 5, 3)
    assert "<mj-foo>" in tag["message"]
    attribute = only(shown, "mjml-unknown-attribute")
    assert (attribute["line"], attribute["column"]) == (6, 3)
    assert '"colour"' in attribute["message"]
    assert "<mj-text>" in attribute["message"]
    # mj-attributes children set defaults with any attribute; an HTML tag inside mj-text is
    # HTML, not MJML.
    fine = preview(
        client,
        body="<mjml><mj-head><mj-attributes><mj-text colour-ish='x' /></mj-attributes></mj-head>"
        + mjml("<mj-text><span colour='red'>Hi</span></mj-text>").removeprefix("<mjml>"),
    )
    assert not {"mjml-unknown-tag", "mjml-unknown-attribute"} & set(codes(fine))


def test_an_mjml_body_with_format_html_is_named(client: Client) -> None:
    body = "\n  " + mjml("<mj-text>Hi</mj-text>")
    wrong = only(preview(client, body=body, body_format="html"), "mjml-as-html")
    assert (wrong["severity"], wrong["line"], wrong["column"]) == ("warning", 2, 3)
    assert "Set Format to MJML" in wrong["message"]
    assert "mjml-as-html" not in codes(preview(client, body=body, body_format="mjml"))
    assert "mjml-as-html" not in codes(preview(client, body="<p>Hi</p>", body_format="html"))


def test_an_mjml_parse_error_has_a_line_and_column(client: Client) -> None:
    body = (
        "<mjml>\n  <mj-body>\n    <mj-section>\n      <mj-column>\n        <mj-text>Hi</mj-text>\n"
    )
    shown = preview(client, body=body)
    error = only(shown, "invalid-mjml")
    assert error["severity"] == "error"
    assert (error["line"], error["column"]) == (4, 7)
    assert "<mj-column> is never closed" in error["message"]
    [flat] = shown["errors"]  # the older list has the place too
    assert flat["line"] == 4
    mismatched = preview(client, body=mjml("<mj-text>Hi</mj-text></mj-section>"))
    problem = only(mismatched, "invalid-mjml")
    assert problem["line"] == 2
    assert "</mj-section> closes <mj-column>" in problem["message"]


def test_unknown_variables_are_not_missing_values(client: Client) -> None:
    stored = client.post("/v1/customers", json={"source_id": "nameless", "email": "n@x.io"})
    assert stored.status_code in (200, 201), stored.text
    shown = preview(
        client,
        subject="{{ customer.first_name }}, {{ coupon.code }}",
        body=mjml("<mj-text>{{ customer.nickname }} {{ event.data.anything }}</mj-text>"),
        customer_id="nameless",
    )
    unknown = [p for p in shown["problems"] if p["code"] == "unknown-variable"]
    assert {(p["part"], p["line"]) for p in unknown} == {("subject", 1), ("body", 2)}
    assert any("coupon.code" in p["message"] for p in unknown)
    assert any("customer.nickname" in p["message"] for p in unknown)
    missing = {
        (p["part"], p["message"].split()[0])
        for p in shown["problems"]
        if p["code"] == "missing-value"
    }
    # Free-form objects (event.data, customer.metadata) take any key: one the sample lacks is
    # a missing value, never an unknown variable.
    assert missing == {("subject", "customer.first_name"), ("body", "event.data.anything")}
    # `missing` (what the preview highlights as absent from the sample) leaves unknown names out.
    assert sorted(shown["missing"]) == ["customer.first_name", "event.data.anything"]


def test_sms_problems_name_the_sms_part(client: Client) -> None:
    shown = client.post(
        "/v1/templates/preview",
        json={"channel": "sms", "body": "Hi {{ customer.nick }} 🎉\n{% if %}"},
    ).json()
    [error] = [p for p in shown["problems"] if p["severity"] == "error"]
    assert (error["part"], error["code"], error["line"]) == ("sms", "syntax-error", 2)
    fine = client.post(
        "/v1/templates/preview", json={"channel": "sms", "body": "Hi {{ customer.nick }} 🎉"}
    ).json()
    assert set(codes(fine)) == {"unknown-variable", "sms-ucs2"}
    assert {p["part"] for p in fine["problems"]} == {"sms"}


def test_null_renders_as_nothing_with_a_warning(client: Client) -> None:
    shown = preview(
        client,
        subject="Hi {{ customer.first_name }}!",
        body=mjml("<mj-text>Hi [{{ customer.first_name }}]</mj-text>"),
        sample={"customer": {"first_name": None}},
    )
    assert shown["subject"] == "Hi !"
    assert "Hi []" in shown["html"]
    assert "None" not in shown["html"]
    nulls = [p for p in shown["problems"] if p["code"] == "null-value"]
    assert {p["part"] for p in nulls} == {"subject", "body"}
    assert all("customer.first_name" in p["message"] for p in nulls)


def test_a_null_in_a_real_send_prints_nothing(client: Client) -> None:
    template_id = published_template(
        client,
        {"subject": "Note", "body": mjml("<mj-text>Note:[{{ event.data.note }}]</mj-text>")},
    )
    made = client.post(
        "/v1/distributions",
        json={
            "name": "Notes",
            "trigger": "note.added",
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
        },
    )
    assert made.status_code == 201, made.text
    event = {
        "type": "note.added",
        "customer": {"source_id": "noted", "email": "noted@x.io"},
        "data": {"note": None},
    }
    assert client.post("/v1/events", json=event).status_code == 202
    message = settled_message(client)
    assert message["status"] == "sent", message
    assert "Note:[]" in message["content"]["html"]
    assert "None" not in message["content"]["html"]


def test_inbox_checks_images_links_and_clipping(client: Client) -> None:
    body = mjml(
        '<mj-image src="https://x.io/a.png" />\n'
        '<mj-image src="https://x.io/b.png" alt="" />\n'
        '<mj-button href="https://x.io"></mj-button>\n'
        '<mj-text><a href="https://x.io"><img src="https://x.io/c.png"></a>'
        ' <a href="{{ code.referral_link }}">{{ code.code }}</a></mj-text>'
    )
    shown = preview(client, body=body)
    images = [p for p in shown["problems"] if p["code"] == "image-alt"]
    assert [(p["line"], p["severity"]) for p in images] == [(2, "warning"), (5, "warning")]
    links = [p for p in shown["problems"] if p["code"] == "link-text"]
    assert [p["line"] for p in links] == [4, 5]
    assert "gmail-clipping" not in codes(shown)
    big = preview(client, body=mjml("<mj-text>" + "word " * 22_000 + "</mj-text>"))
    clipped = only(big, "gmail-clipping")
    assert clipped["severity"] == "warning"
    assert "102 KB" in clipped["message"]


def test_the_preheader_is_what_the_inbox_shows(client: Client) -> None:
    with_preview = preview(
        client,
        body="<mjml><mj-head><mj-preview>Your code {{ code.code }} inside</mj-preview></mj-head>"
        + mjml("<mj-text>Hello there</mj-text>").removeprefix("<mjml>"),
    )
    assert with_preview["preheader"].startswith("Your code ANA-7K2Q inside Hello there")
    plain = preview(
        client,
        body_format="html",
        body="<html><head><title>T</title><style>p{color:red}</style></head>"
        "<body><p>First   words\nhere</p><p>" + "more " * 60 + "</p></body></html>",
    )
    assert plain["preheader"].startswith("First words here more")
    assert len(plain["preheader"]) <= 140
    sms = client.post("/v1/templates/preview", json={"channel": "sms", "body": "x"}).json()
    assert sms["preheader"] is None


def test_preview_and_sent_email_link_no_web_font(client: Client) -> None:
    body = mjml(f"<mj-text>Hi {UNSUBSCRIBE}</mj-text>")
    assert "fonts.googleapis.com" not in preview(client, body=body)["html"]


def test_the_sample_qr_code_is_an_image_the_service_serves(client: Client) -> None:
    shown = preview(client, body=mjml('<mj-image alt="QR" src="{{ code.qr_url }}" />'))
    [src] = [part.split('"')[0] for part in shown["html"].split('src="')[1:]]
    assert src.endswith("/links/qr/ANA-7K2Q.png")
    image = client.get(urlsplit(src).path)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"


@pytest.fixture
def editor(app: Litestar, app_database: Database, api_project: ProjectCredentials) -> Client:
    signed_in = TestClient(app, base_url="http://127.0.0.1")
    sign_in(signed_in, make_user(app_database, api_project, "editor").email)
    signed_in.headers["X-CSRF-Token"] = header_token(signed_in)
    return signed_in


def test_the_editor_preview_predicts_publish_for_its_template(
    client: Client, editor: Client
) -> None:
    created = client.post(
        "/v1/templates",
        json={"name": "News", "channel": "email", "category": "marketing", "subject": "x"},
    )
    template_id = created.json()["id"]
    body = mjml("<mj-text>No way out</mj-text>")
    answer = editor.post(
        "/ui/api/preview",
        json={"channel": "email", "subject": "News", "body": body, "template_id": template_id},
    )
    assert answer.status_code == 200, answer.text
    assert codes(answer.json(), "error") == ["unsubscribe-link"]
    bad = editor.post(
        "/ui/api/preview",
        json={"channel": "email", "subject": "News", "body": body, "category": "nonsense"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "category"


def test_an_sms_test_send_takes_the_numbers_the_customers_api_takes(
    app: Litestar, client: Client, editor: Client, api_project: ProjectCredentials
) -> None:
    number = "+1 415 555 2671"
    stored = client.post("/v1/customers", json={"source_id": "spaced", "phone": number})
    assert stored.status_code in (200, 201), stored.text
    assert stored.json()["phone"] == "+14155552671"
    sent = editor.post(
        "/ui/api/test-send",
        json={"channel": "sms", "to": number, "body": "Hi", "provider": "capture"},
    )
    assert sent.status_code == 200, sent.text
    captured = app.state.providers.captured(api_project.project.id).messages
    assert captured[-1].message.to == "+14155552671"
    refused = editor.post(
        "/ui/api/test-send",
        json={"channel": "sms", "to": "+1 415 555", "body": "Hi", "provider": "capture"},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "to"


def test_which_variant_is_chosen_refuses_what_names_nothing(client: Client, editor: Client) -> None:
    template_id = published_template(client, {"subject": "s", "body": mjml("<mj-text>x</mj-text>")})
    campaign = client.post("/v1/campaigns", json={"name": "Resolve me"}).json()
    ui_path = f"/ui/api/templates/{template_id}/resolve"
    fine = editor.post(ui_path, json={"campaign_id": campaign["id"], "locale": "pt_br"})
    assert fine.status_code == 200, fine.text
    assert fine.json()["variant_id"] is not None
    for asked, field in (
        ({"campaign_id": "cmp_nope"}, "campaign_id"),
        ({"segment_id": "seg_nope"}, "segment_id"),
        ({"locale": "not a locale!!"}, "locale"),
    ):
        refused = editor.post(ui_path, json=asked)
        assert refused.status_code == 422, (asked, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == [field]
        api = client.get(f"/v1/templates/{template_id}/resolve", params=asked)
        if field == "campaign_id":
            # The API answers for any campaign an event may carry: the default variant here.
            assert api.status_code == 200, api.text
            continue
        assert api.status_code == 422, (asked, api.text)
        assert [e["field"] for e in api.json()["errors"]] == [field]


def test_the_sent_email_is_the_preview(client: Client) -> None:
    """Same source, same data: the captured email's HTML is the preview's, byte for byte (the
    preview compiles as sends do, and neither links a web font)."""
    source = {
        "subject": "Hi {{ customer.first_name }}",
        "body": "<mjml><mj-head><mj-preview>For {{ customer.first_name }}</mj-preview></mj-head>"
        + mjml("<mj-text font-size='18px'>Hello {{ customer.first_name }}</mj-text>").removeprefix(
            "<mjml>"
        ),
    }
    stored = client.post(
        "/v1/customers", json={"source_id": "same", "name": "Ada Lovelace", "email": "a@x.io"}
    )
    assert stored.status_code in (200, 201), stored.text
    shown = preview(client, **source, customer_id="same")
    template_id = published_template(client, source)
    made = client.post(
        "/v1/distributions",
        json={
            "name": "Hello",
            "trigger": "hello.said",
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
        },
    )
    assert made.status_code == 201, made.text
    event = {"type": "hello.said", "customer": {"source_id": "same"}}
    assert client.post("/v1/events", json=event).status_code == 202
    sent = settled_message(client)
    assert sent["content"]["subject"] == shown["subject"] == "Hi Ada"
    assert sent["content"]["html"] == shown["html"]
    assert shown["preheader"].startswith("For Ada Hello Ada")
