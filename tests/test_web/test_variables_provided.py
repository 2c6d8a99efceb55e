"""What the variable schema promises per trigger is what a real send of that trigger provides.

For each trigger the schema lists (`provided_for`), a strict template using every field listed
for it is published, a distribution on that trigger created, and the trigger's event made to
happen through the API as a user would (for `bulk`, a bulk send of that template): a missing
variable fails the delivery and names it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from templates import VARIABLE_SCHEMA
from templates.schema import DEPRECATED_ALIASES, EVERY_EVENT
from tests.test_distribution.event_samples import (
    VOUCHERIFY_REDEMPTION,
    VOUCHERIFY_V2024_PUBLISHED,
    VOUCHERIFY_V2024_REFERRER_REWARDED,
)
from tests.test_web.api_templates import published_template, settled_message
from tests.test_web.voucherify_webhooks import connect_voucherify, post_webhook, signed_body

Client = TestClient[Litestar]


def _promised(trigger: str) -> list[str]:
    """Every `group.field` the schema says a send of `trigger` always has."""
    # `*` is every event-triggered send; a bulk send is none.
    accepted = {trigger} if trigger == "bulk" else {trigger, EVERY_EVENT}
    return [
        f"{group}.{name}"
        for group, info in VARIABLE_SCHEMA.items()
        for name, spec in info["fields"].items()
        if accepted & set(spec["provided_for"])
    ]


def _distribution(trigger: str, happen: Callable[[Client], None]) -> Callable[[Client, str], None]:
    """Send by distribution: one on `trigger` with the template, then its event."""

    def send(client: Client, template_id: str) -> None:
        made = client.post(
            "/v1/distributions",
            json={
                "name": f"All of {trigger}",
                "trigger": trigger,
                "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
            },
        )
        assert made.status_code == 201, made.text
        happen(client)

    return send


def _bulk_send(client: Client, template_id: str) -> None:
    campaign = client.post("/v1/campaigns", json={"name": "Invite"}).json()
    pool = client.post("/v1/code-pools", json={"campaign": campaign["id"], "name": "p"}).json()
    client.post(f"/v1/code-pools/{pool['id']}/codes/generate", json={"count": 1, "length": 8})
    customer = {"source_id": "b-1", "email": "b@x.io"}
    assert client.post("/v1/customers", json=customer).status_code in (200, 201)
    started = client.post(
        "/v1/bulk-sends",
        json={
            "campaign": campaign["id"],
            "audience": {"customers": ["b-1"]},
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
            "send_delay_seconds": 0,
        },
    )
    assert started.status_code == 202, started.text


def _our_event(client: Client) -> None:
    body = {"type": "something.happened", "customer": {"source_id": "p-1", "email": "p@x.io"}}
    assert client.post("/v1/events", json=body).status_code == 202


def _voucherify_api_event(client: Client) -> None:
    answer = client.post("/v1/events", json=copy.deepcopy(VOUCHERIFY_REDEMPTION))
    assert answer.status_code == 202, answer.text


def _webhook(body: dict[str, Any]) -> Callable[[Client], None]:
    def post(client: Client) -> None:
        # No API credentials: nothing is read from Voucherify, the body is all there is.
        path = connect_voucherify(client, None)
        raw, signature = signed_body(body)
        answer = post_webhook(client, path, raw, signature)
        assert answer.status_code == 200, answer.text

    return post


def _code_assigned(client: Client) -> None:
    campaign = client.post("/v1/campaigns", json={"name": "Refer"}).json()
    pool = client.post("/v1/code-pools", json={"campaign": campaign["id"], "name": "p"}).json()
    generated = client.post(
        f"/v1/code-pools/{pool['id']}/codes/generate", json={"count": 1, "length": 8}
    )
    assert generated.status_code in (200, 201, 202), generated.text
    customer = {"source_id": "c-1", "email": "c@x.io"}
    assert client.post("/v1/customers", json=customer).status_code in (200, 201)
    assigned = client.post(f"/v1/code-pools/{pool['id']}/assign", json={"customer": "c-1"})
    assert assigned.status_code in (200, 201), assigned.text


def _segment_entered(client: Client) -> None:
    gold = {"field": "metadata.tier", "op": "eq", "value": "gold"}
    assert client.post("/v1/segments", json={"name": "Gold", "filter": gold}).is_success
    customer = {"source_id": "s-1", "email": "s@x.io", "metadata": {"tier": "gold"}}
    assert client.post("/v1/customers", json=customer).is_success


def _segment_left(client: Client) -> None:
    _segment_entered(client)
    assert client.put("/v1/customers/s-1", json={"metadata": {"tier": "silver"}}).is_success


def _triggered(trigger: str, happen: Callable[[Client], None]) -> tuple[str, Any]:
    return trigger, _distribution(trigger, happen)


TRIGGERS: dict[str, tuple[str, Callable[[Client, str], None]]] = {
    "our event": _triggered("something.happened", _our_event),
    "Voucherify body on /v1/events": _triggered("redemption.succeeded", _voucherify_api_event),
    "customer.rewarded webhook": _triggered(
        "customer.rewarded", _webhook(VOUCHERIFY_V2024_REFERRER_REWARDED)
    ),
    "voucher.published webhook": _triggered(
        "voucher.published", _webhook(VOUCHERIFY_V2024_PUBLISHED)
    ),
    "code.assigned": _triggered("code.assigned", _code_assigned),
    "customer.segment.entered": _triggered("customer.segment.entered", _segment_entered),
    "customer.segment.left": _triggered("customer.segment.left", _segment_left),
    "bulk send": ("bulk", _bulk_send),
}


def test_every_trigger_the_schema_names_is_exercised() -> None:
    named = {
        trigger
        for info in VARIABLE_SCHEMA.values()
        for spec in info["fields"].values()
        for trigger in spec["provided_for"]
    }
    assert named - {EVERY_EVENT} <= {trigger for trigger, _ in TRIGGERS.values()}


@pytest.mark.parametrize("case", list(TRIGGERS))
def test_a_send_provides_every_variable_the_schema_lists_for_its_trigger(
    client: Client, case: str
) -> None:
    trigger, send = TRIGGERS[case]
    promised = _promised(trigger)
    assert "customer.id" in promised
    body = " ".join(f"{path}=[{{{{ {path} }}}}]" for path in promised)
    template_id = published_template(
        client,
        {
            "subject": "All promised variables",
            "body_format": "mjml",
            "body": f"<mjml><mj-body><mj-section><mj-column><mj-text>{body}"
            "</mj-text></mj-column></mj-section></mj-body></mjml>",
        },
    )
    send(client, template_id)
    detail = _sent(client)
    for path in promised:
        assert f"{path}=[]" not in detail["content"]["html"]


def _sent(client: Client) -> dict[str, Any]:
    detail = settled_message(client)
    assert detail["status"] == "sent", detail
    return detail


@pytest.mark.parametrize("case", list(TRIGGERS))
def test_a_send_provides_no_variable_the_schema_does_not_name(client: Client, case: str) -> None:
    """The other direction: every name a send fills is in the schema (or a documented alias),
    so the editor's panel and the sends speak of the same variables."""
    _trigger, send = TRIGGERS[case]
    dumps = "".join(
        f'<pre data-group="{group}">{{{{ {group} | default({{}}) | tojson }}}}</pre>'
        for group in VARIABLE_SCHEMA
    )
    template_id = published_template(
        client,
        {
            "subject": "Every name a send fills",
            "body_format": "html",
            "body": f"<html><body>{dumps}</body></html>",
        },
    )
    send(client, template_id)
    html = _sent(client)["content"]["html"]
    provided = {
        group: json.loads(found)
        for group, found in re.findall(r'<pre data-group="(\w+)">(.*?)</pre>', html, re.DOTALL)
    }
    assert set(provided) == set(VARIABLE_SCHEMA)
    unnamed = {
        f"{group}.{name}"
        for group, values in provided.items()
        for name in values
        if name not in VARIABLE_SCHEMA[group]["fields"]
        and f"{group}.{name}" not in DEPRECATED_ALIASES
    }
    assert unnamed == set(), f"{case} fills variables the schema does not name"


def test_the_panels_referral_link_and_its_former_name_are_filled_by_a_real_send(
    client: Client,
) -> None:
    """The editor offers `code.referral_link`; a send fills it, and still fills the former
    `code.referral_url` (documented as deprecated) so older templates keep working."""
    template_id = published_template(
        client,
        {
            "subject": "Share",
            "body_format": "html",
            "body": "<p>new=[{{ code.referral_link }}] old=[{{ code.referral_url }}]</p>",
        },
    )
    assert client.post(
        "/v1/distributions",
        json={
            "name": "Links",
            "trigger": "code.assigned",
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
        },
    ).is_success
    campaign = client.post(
        "/v1/campaigns",
        json={"name": "Linked", "referral_url_template": "https://shop.example.com/r/{code}"},
    ).json()
    pool = client.post("/v1/code-pools", json={"campaign": campaign["id"], "name": "p"}).json()
    client.post(f"/v1/code-pools/{pool['id']}/codes/generate", json={"count": 1, "length": 8})
    assert client.post("/v1/customers", json={"source_id": "l-1", "email": "l@x.io"}).is_success
    assigned = client.post(f"/v1/code-pools/{pool['id']}/assign", json={"customer": "l-1"})
    assert assigned.is_success, assigned.text
    code = assigned.json()["code"]
    link = f"https://shop.example.com/r/{code}"
    html = _sent(client)["content"]["html"]
    assert f"new=[{link}] old=[{link}]" in html
    shown = client.post(
        "/v1/templates/preview",
        json={
            "channel": "email",
            "subject": "s",
            "body": "{{ code.referral_url }}",
            "body_format": "html",
        },
    ).json()
    [deprecated] = [p for p in shown["problems"] if p["code"] == "deprecated-variable"]
    assert "code.referral_link" in deprecated["message"]
    assert not [p for p in shown["problems"] if p["code"] in ("unknown-variable", "missing-value")]
    assert shown["text"].strip() == "https://shop.example.com/r/ANA-7K2Q"
