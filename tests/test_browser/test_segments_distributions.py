"""Segments and distributions built from the UI alone, in headless Chromium, and checked
through the public API: the visual filter builder with its live count and sample and its JSON
toggle; a distribution made through the guided form, previewed for a real customer, activated,
fired by an event (the email arrives at the SMTP inbox) and paused."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from distribution.accounts.users import create_user
from tests.builders import publish_template
from tests.service_process import wait_until
from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import PASSWORD, WAIT_MS, Console, Site, ok, sign_in

pytestmark = pytest.mark.browser


def _customers(api: httpx.Client, tag: str) -> None:
    rows = [
        {
            "source_id": f"{tag}-ana",
            "name": f"Ana {tag}",
            "email": f"ana-{tag}@example.com",
            "metadata": {"tier": f"gold{tag}", "orders": 5},
        },
        {
            "source_id": f"{tag}-bo",
            "name": f"Bo {tag}",
            "email": f"bo-{tag}@example.com",
            "metadata": {"tier": f"silver{tag}", "orders": 1},
        },
        {
            "source_id": f"{tag}-cy",
            "name": f"Cy {tag}",
            "email": f"cy-{tag}@example.com",
            "metadata": {"tier": f"bronze{tag}", "orders": 9},
        },
    ]
    assert ok(api.post("/v1/customers/batch", json={"customers": rows}))["failed"] == 0


def test_build_a_segment_with_an_or_group_save_it_and_round_trip_the_json(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    _customers(api, tag)
    tab.goto(site.url + "/segments")
    assert_accessible(tab, "segments list")
    tab.get_by_role("link", name="New segment").click()
    expect(tab.get_by_role("button", name="Add condition", exact=True)).to_be_visible()
    assert_accessible(tab, "new segment, empty")

    tab.get_by_label("Name").fill(f"Loyal {tag}")
    # Row 1: email contains the tag (all three customers).
    tab.get_by_role("button", name="Add condition", exact=True).click()
    tab.get_by_label("Field of condition 1").select_option("email")
    tab.get_by_label("Operator of condition 1").select_option("contains")
    tab.get_by_label("Value of condition 1").fill(tag)
    count = tab.locator("#segment-count")
    expect(count).to_have_text("3 customers match now.", timeout=WAIT_MS)
    # An OR group: tier is gold..., or orders at least 9 (Ana and Cy, not Bo).
    tab.get_by_role("button", name="Add group").click()
    tab.get_by_label("Field of condition 2").select_option("metadata.tier")
    tab.get_by_label("Value of condition 2").fill(f"gold{tag}")
    expect(count).to_have_text("1 customer matches now.", timeout=WAIT_MS)
    tab.get_by_role("button", name="Add condition to group").click()
    tab.get_by_label("Field of condition 3").select_option("metadata.orders")
    tab.get_by_label("Operator of condition 3").select_option("gte")
    expect(tab.get_by_label("Value of condition 3")).to_have_attribute("type", "number")
    tab.get_by_label("Value of condition 3").fill("9")
    expect(count).to_have_text("2 customers match now.", timeout=WAIT_MS)
    sample = tab.locator("#segment-sample")
    expect(sample).to_contain_text(f"Ana {tag}")
    expect(sample).to_contain_text(f"Cy {tag}")
    expect(sample).not_to_contain_text(f"Bo {tag}")
    assert_accessible(tab, "segment builder, filled")
    assert_fits(tab, "segment builder, filled")

    # A wrong value is shown at its field, from the API's problem.
    tab.get_by_label("Operator of condition 1").select_option("in")
    tab.get_by_label("Value of condition 1").fill("")
    value = tab.get_by_label("Value of condition 1")
    expect(value).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
    error = tab.locator("#" + str(value.get_attribute("aria-describedby")))
    expect(error).to_contain_text("non-empty list")
    assert_accessible(tab, "segment builder, with an error")
    tab.get_by_label("Operator of condition 1").select_option("contains")
    tab.get_by_label("Value of condition 1").fill(tag)
    expect(count).to_have_text("2 customers match now.", timeout=WAIT_MS)

    tab.get_by_role("button", name="Create segment").click()
    expect(tab.locator("#segment-saved")).to_have_text("Created.", timeout=WAIT_MS)
    segment_id = tab.locator("#segment-form").get_attribute("data-segment")
    assert segment_id
    stored = ok(api.get(f"/v1/segments/{segment_id}"))
    assert stored["name"] == f"Loyal {tag}"
    assert stored["customers_count"] == 2
    assert stored["filter"] == {
        "and": [
            {"field": "email", "op": "contains", "value": tag},
            {
                "or": [
                    {"field": "metadata.tier", "op": "eq", "value": f"gold{tag}"},
                    {"field": "metadata.orders", "op": "gte", "value": 9},
                ]
            },
        ]
    }
    # The saved segment reopens as rows, with its count.
    expect(count).to_have_text("2 customers match now.", timeout=WAIT_MS)
    expect(tab.get_by_label("Value of condition 3")).to_have_value("9")

    # JSON toggle: the builder's filter as JSON; an edit there comes back as rows.
    tab.get_by_role("button", name="Edit as JSON").click()
    text = tab.get_by_label("Filter (JSON, as in the API)")
    assert json.loads(text.input_value()) == stored["filter"]
    assert_accessible(tab, "segment JSON view")
    changed = json.loads(text.input_value())
    changed["and"][1]["or"][1]["value"] = 1
    text.fill(json.dumps(changed))
    tab.get_by_role("button", name="Edit as rows").click()
    expect(tab.get_by_label("Value of condition 3")).to_have_value("1")
    expect(count).to_have_text("3 customers match now.", timeout=WAIT_MS)
    tab.get_by_label("Name").fill(f"Loyal and renamed {tag}")
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("#segment-saved")).to_contain_text("Saved", timeout=WAIT_MS)
    expect(tab.locator("h1")).to_have_text(f"Loyal and renamed {tag}")
    again = ok(api.get(f"/v1/segments/{segment_id}"))
    assert again["filter"] == changed
    assert again["name"] == f"Loyal and renamed {tag}"

    tab.goto(site.url + "/segments")
    expect(tab.locator(f'tr[data-segment="{segment_id}"]')).to_contain_text(f"renamed {tag}")
    assert not console.errors, console.errors


def test_delete_a_segment_after_confirming(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    created = ok(
        api.post(
            "/v1/segments",
            json={
                "name": f"Gone {tag}",
                "filter": {"field": "email", "op": "exists", "value": True},
            },
        )
    )
    tab.goto(site.url + f"/segments/{created['id']}")
    expect(tab.locator("h1")).to_have_text(f"Gone {tag}")
    messages: list[str] = []

    def answer(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    tab.once("dialog", answer)
    tab.get_by_role("button", name="Delete segment…").click()
    tab.wait_for_url("**/segments")
    assert f'"Gone {tag}"' in messages[0]
    assert api.get(f"/v1/segments/{created['id']}").status_code == 404
    assert not console.errors, console.errors


def test_create_a_distribution_through_the_steps_preview_it_activate_send_and_pause(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    template = publish_template(
        site.database,
        site.project_id,
        subject="Your code {{ code.code }}",
        body="<p>Hi {{ customer.name }}, your code is {{ code.code }}</p>",
    )
    person = {"source_id": f"dist-{tag}", "name": f"Dora {tag}", "email": f"dora-{tag}@example.com"}
    ok(api.post("/v1/customers", json=person))

    tab.goto(site.url + "/distributions")
    assert_accessible(tab, "distributions list")
    tab.get_by_role("link", name="New distribution").click()
    # Step 1: name and trigger, with what the trigger gives templates.
    tab.get_by_label("Name", exact=True).fill(f"Code mail {tag}")
    tab.locator('input[name="trigger-pick"][value="code.assigned"]').check()
    expect(tab.get_by_label("Event type")).to_have_value("code.assigned")
    expect(tab.locator("#trigger-provides")).to_contain_text("code.code")
    assert_accessible(tab, "distribution form, trigger")
    tab.get_by_role("button", name="Next").click()
    # Step 2: filters (none here, the builder is there for conditions).
    expect(tab.get_by_role("heading", name="2. Who it is for")).to_be_visible()
    expect(tab.get_by_role("button", name="Add condition", exact=True)).to_be_visible()
    assert_accessible(tab, "distribution form, filters")
    tab.get_by_role("button", name="Next").click()
    # Step 3: an email channel; activating without its template names the field.
    tab.get_by_role("button", name="Add email").click()
    tab.get_by_label("Provider of channel 1 (Email)").select_option("local-smtp")
    tab.get_by_role("button", name="5. Activate").click()
    tab.get_by_role("button", name="Activate", exact=True).click()
    template_select = tab.get_by_label("Template of channel 1 (Email)")
    expect(template_select).to_be_visible()
    expect(template_select).to_have_attribute("aria-invalid", "true")
    assert_accessible(tab, "distribution form, with an error")
    template_select.select_option(template)
    # Preview for a real customer: the rendered email, nothing sent.
    tab.get_by_label("Customer to preview for").fill(tag)
    tab.get_by_role("button", name="Find").click()
    expect(tab.get_by_label("Customer", exact=True)).to_contain_text(f"Dora {tag}")
    tab.get_by_role("button", name="Show the deliveries it would create").click()
    expect(tab.locator("#preview-note")).to_contain_text("It would create 1 delivery")
    expect(tab.locator("#preview-result")).to_contain_text(f"dora-{tag}@example.com")
    frame = tab.frame_locator("#preview-result iframe")
    expect(frame.get_by_text(f"Hi Dora {tag}, your code is ANA-7K2Q")).to_be_visible()
    assert_accessible(tab, "distribution form, channels with a preview")
    assert_fits(tab, "distribution form with a preview")
    tab.get_by_role("button", name="Next").click()
    # Step 4: recipient and timing.
    tab.get_by_label("Frequency cap (hours)").fill("24")
    assert_accessible(tab, "distribution form, recipient and timing")
    tab.get_by_role("button", name="Next").click()
    expect(tab.locator("#summary")).to_contain_text("once per 24 h")
    assert_accessible(tab, "distribution form, activate")
    tab.get_by_role("button", name="Activate", exact=True).click()
    tab.wait_for_url("**/distributions/dist_*")
    expect(tab.locator("h1")).to_contain_text(f"Code mail {tag}")
    assert not ok(api.get("/v1/messages", params={"customer_id": person["source_id"]})).get(
        "messages"
    )

    [stored] = [d for d in ok(api.get("/v1/distributions")) if d["name"] == f"Code mail {tag}"]
    assert stored["trigger"] == "code.assigned"
    assert stored["status"] == "active"
    assert stored["frequency_cap_hours"] == 24
    assert stored["channels"] == [
        {"channel": "email", "template": template, "provider": "local-smtp"}
    ]
    assert tab.url.endswith(f"/distributions/{stored['id']}")

    # A code.assigned event through the API: the email arrives at the SMTP inbox.
    code = f"REAL-{tag}"
    event = {
        "type": "code.assigned",
        "customer": {"source_id": person["source_id"]},
        "code": {"code": code},
    }
    ok(api.post("/v1/events", json=event))
    wait_until(
        lambda: any(code in str(m["Subject"]) for m in site.inbox),
        f"no email with {code} reached the SMTP inbox",
        limit=60,
    )
    [mail] = [m for m in site.inbox if code in str(m["Subject"])]
    assert person["email"] in str(mail["To"])

    # Pause from the page, after confirming; the API reports it paused.
    messages: list[str] = []

    def answer(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    tab.once("dialog", answer)
    tab.get_by_role("button", name="Pause").click()
    expect(tab.locator("#distribution-status")).to_have_text("paused")
    expect(tab.get_by_role("button", name="Resume")).to_be_visible()
    assert f"Code mail {tag}" in messages[0]
    assert ok(api.get(f"/v1/distributions/{stored['id']}"))["status"] == "paused"
    assert_accessible(tab, "distribution page, paused")
    assert not console.errors, console.errors


def test_edit_a_distribution_keeps_its_state_and_changes_its_conditions(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    template = publish_template(site.database, site.project_id, subject="Hi", body="<p>Hi</p>")
    conditions = {
        "or": [
            {"field": "metadata.tier", "op": "eq", "value": "gold"},
            {"field": "email", "op": "contains", "value": "@vip"},
        ]
    }
    created = ok(
        api.post(
            "/v1/distributions",
            json={
                "name": f"Edit me {tag}",
                "trigger": f"custom.{tag}",
                "filters": {"conditions": conditions},
                "channels": [{"channel": "email", "template": template, "provider": "capture"}],
                "quiet_hours": {"start": "21:00", "end": "08:00"},
            },
        )
    )
    ok(api.post(f"/v1/distributions/{created['id']}/pause"))
    tab.goto(site.url + f"/distributions/{created['id']}")
    tab.get_by_role("link", name="Edit").click()
    expect(tab.get_by_label("Name", exact=True)).to_have_value(f"Edit me {tag}")
    expect(tab.get_by_label("Event type")).to_have_value(f"custom.{tag}")
    tab.get_by_role("button", name="2. Filters").click()
    expect(tab.get_by_label("Value of condition 2")).to_have_value("@vip")
    tab.get_by_label("Value of condition 1").fill("platinum")
    tab.get_by_role("button", name="4. Recipient and timing").click()
    expect(tab.get_by_label("From", exact=True)).to_have_value("21:00")
    tab.get_by_role("button", name="5. Save").click()
    tab.get_by_role("button", name="Save changes").click()
    tab.wait_for_url(f"**/distributions/{created['id']}")
    stored = ok(api.get(f"/v1/distributions/{created['id']}"))
    assert stored["status"] == "paused"
    assert stored["quiet_hours"] == {"start": "21:00", "end": "08:00"}
    assert stored["filters"]["conditions"] == {
        "or": [
            {"field": "metadata.tier", "op": "eq", "value": "platinum"},
            {"field": "email", "op": "contains", "value": "@vip"},
        ]
    }
    assert stored["updated_by"] == site.editor_email
    assert not console.errors, console.errors


def test_a_viewer_sees_segments_and_distributions_without_change_buttons(
    browser: Browser, site: Site, api: httpx.Client
) -> None:
    tag = secrets.token_hex(3)
    with site.database.session() as session:
        viewer = create_user(
            session, site.project_id, f"viewer-{tag}@example.com", "viewer", PASSWORD
        )
    _customers(api, tag)
    segment = ok(
        api.post(
            "/v1/segments",
            json={
                "name": f"Seen {tag}",
                "filter": {"field": "email", "op": "contains", "value": tag},
            },
        )
    )
    template = publish_template(site.database, site.project_id, subject="Hi", body="<p>Hi</p>")
    channel = {"channel": "email", "template": template, "provider": "capture"}
    distribution = ok(
        api.post(
            "/v1/distributions",
            json={
                "name": f"Watched {tag}",
                "trigger": f"seen.{tag}",
                "channels": [channel],
                "filters": {"segment_id": segment["id"]},
            },
        )
    )
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, site, viewer.user.email)
        tab.goto(site.url + "/segments")
        expect(tab.get_by_role("link", name=f"Seen {tag}")).to_be_visible()
        expect(tab.get_by_role("link", name="New segment")).to_have_count(0)
        tab.get_by_role("link", name=f"Seen {tag}").click()
        expect(tab.locator("#segment-count")).to_have_text("3 customers match now.")
        expect(tab.get_by_label("Value of condition 1")).to_be_disabled()
        expect(tab.get_by_role("button", name="Save changes")).to_have_count(0)
        expect(tab.get_by_role("button", name="Delete segment…")).to_have_count(0)
        assert_accessible(tab, "segment page, viewer")
        tab.goto(site.url + "/distributions")
        expect(tab.get_by_role("link", name="New distribution")).to_have_count(0)
        tab.goto(site.url + f"/distributions/{distribution['id']}")
        expect(tab.locator("h1")).to_contain_text(f"Watched {tag}")
        expect(tab.locator("dl.facts")).to_contain_text(f"segment Seen {tag}")  # a name, not an id
        expect(tab.get_by_role("button", name="Pause")).to_have_count(0)
        expect(tab.get_by_role("link", name="Edit")).to_have_count(0)
    finally:
        context.close()
    assert segment["customers_count"] == 3


def test_a_metadata_key_not_in_use_yet_can_be_typed(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    tab.goto(site.url + "/segments/new")
    tab.get_by_role("button", name="Add condition", exact=True).click()
    tab.get_by_label("Field of condition 1").select_option(label="Another metadata key…")
    tab.get_by_label("Metadata key of condition 1").fill(f"future{tag}")
    tab.get_by_label("Metadata key of condition 1").press("Tab")
    tab.get_by_label("Value of condition 1").fill("yes")
    expect(tab.locator("#segment-count")).to_have_text("0 customers match now.")
    tab.get_by_role("button", name="Edit as JSON").click()
    shown = json.loads(tab.get_by_label("Filter (JSON, as in the API)").input_value())
    assert shown == {"field": f"metadata.future{tag}", "op": "eq", "value": "yes"}
    assert not console.errors, console.errors


def test_save_a_distribution_paused_for_an_event_type_of_your_own(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    template = publish_template(site.database, site.project_id, subject="Hi", body="<p>Hi</p>")
    tab.goto(site.url + "/distributions/new")
    tab.get_by_label("Name", exact=True).fill(f"Own {tag}")
    tab.get_by_label("Event type").fill(f"shop.visited.{tag}")
    expect(tab.locator("#trigger-provides")).to_contain_text("event.type")
    tab.get_by_role("button", name="3. Channels").click()
    tab.get_by_role("button", name="Add email").click()
    tab.get_by_label("Template of channel 1 (Email)").select_option(template)
    tab.get_by_label("Provider of channel 1 (Email)").select_option("capture")
    tab.get_by_role("button", name="5. Activate").click()
    tab.get_by_role("button", name="Save paused").click()
    tab.wait_for_url("**/distributions/dist_*")
    expect(tab.locator("#distribution-status")).to_have_text("paused")
    [stored] = [d for d in ok(api.get("/v1/distributions")) if d["name"] == f"Own {tag}"]
    assert stored["status"] == "paused"
    assert stored["trigger"] == f"shop.visited.{tag}"
    assert stored["updated_by"] == site.editor_email
    assert not console.errors, console.errors


def test_a_distribution_on_entering_a_segment_picks_the_segment_and_sends(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    segment = ok(
        api.post(
            "/v1/segments",
            json={
                "name": f"Gold {tag}",
                "filter": {"field": "metadata.tier", "op": "eq", "value": f"gold{tag}"},
            },
        )
    )
    template = publish_template(
        site.database,
        site.project_id,
        subject="Welcome to {{ segment.name }}",
        body="<p>Hi {{ customer.name }}, welcome to {{ segment.name }}</p>",
    )
    tab.goto(site.url + "/distributions/new")
    tab.get_by_label("Name", exact=True).fill(f"Entered {tag}")
    tab.locator('input[name="trigger-pick"][value="customer.segment.entered"]').check()
    expect(tab.locator("#trigger-provides")).to_contain_text("segment.name")
    tab.get_by_role("button", name="Next").click()
    # The picker names the segment the event is about, not a membership.
    picker = tab.get_by_label("The segment the customer entered")
    expect(picker.locator("option").first).to_have_text("Any segment")
    picker.select_option(segment["id"])
    assert_accessible(tab, "distribution form, segment trigger")
    tab.get_by_role("button", name="Next").click()
    tab.get_by_role("button", name="Add email").click()
    tab.get_by_label("Template of channel 1 (Email)").select_option(template)
    tab.get_by_label("Provider of channel 1 (Email)").select_option("capture")
    tab.get_by_role("button", name="5. Activate").click()
    expect(tab.locator("#summary")).to_contain_text(f"Gold {tag}")
    tab.get_by_role("button", name="Activate", exact=True).click()
    tab.wait_for_url("**/distributions/dist_*")
    [stored] = [d for d in ok(api.get("/v1/distributions")) if d["name"] == f"Entered {tag}"]
    assert stored["trigger"] == "customer.segment.entered"
    assert stored["filters"] == {"segment_id": segment["id"]}

    # A customer entering the segment through the API gets the welcome.
    person = {
        "source_id": f"seg-{tag}",
        "name": f"Sol {tag}",
        "email": f"sol-{tag}@example.com",
        "metadata": {"tier": f"gold{tag}"},
    }
    customer = ok(api.post("/v1/customers", json=person))
    wait_until(
        lambda: any(
            m["customer_id"] == customer["id"] for m in ok(api.get("/v1/messages"))["messages"]
        ),
        "no message for the customer who entered the segment",
        limit=60,
    )
    assert not console.errors, console.errors
