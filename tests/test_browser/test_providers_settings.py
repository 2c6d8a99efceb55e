"""Providers and integrations, and Settings, in headless Chromium: each flow done from the UI
alone, its result then read back through the API or the database.
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from distribution.accounts.users import create_user
from distribution.events.inbound_signing import inbound_secret
from distribution.storage.secrets import SecretBox
from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import (
    PASSWORD,
    SECRET,
    WAIT_MS,
    Console,
    Site,
    api_client,
    ok,
    sign_in,
)
from tests.test_distribution.webhook_receiver import Receiver
from tests.test_providers.fakes.server import serve

pytestmark = pytest.mark.browser

WHSEC = "whsec_" + base64.b64encode(b"a webhook provider key, long.").decode()
NEW_WHSEC = "whsec_" + base64.b64encode(b"its replacement, typed in.").decode()


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    hooks = Receiver()
    with serve(hooks) as url:
        yield hooks, url


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accept_confirms(page: Page) -> list[str]:
    """Accept every confirm() and keep its message, to check it says what will happen."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return asked


def _new_provider(page: Page, site: Site, kind: str, name: str) -> None:
    page.goto(site.url + "/providers/new")
    page.get_by_label("Kind").select_option(kind)
    page.locator("#p-name").fill(name)


def test_an_smtp_provider_is_added_from_the_generated_form_and_checked(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tab.goto(site.url + "/providers")
    expect(tab.get_by_role("link", name="local-smtp")).to_be_visible(timeout=WAIT_MS)
    assert_accessible(tab, "providers list")

    assert_fits(tab, "the providers list")
    tab.get_by_role("link", name="Add a provider").click()
    tab.wait_for_url("**/providers/new")
    tab.get_by_label("Kind").select_option("smtp")
    expect(tab.get_by_label(re.compile("^Host"))).to_be_visible()
    assert_accessible(tab, "new provider form (smtp)")
    assert_fits(tab, "the new provider form")

    # Nothing filled in: the API's field errors are shown at their inputs.
    tab.locator("#p-name").fill("inbox-mail")
    tab.get_by_role("button", name="Add the provider").click()
    expect(tab.locator("#f-host-error")).to_be_visible(timeout=WAIT_MS)
    expect(tab.get_by_label(re.compile("^Host"))).to_have_attribute("aria-invalid", "true")
    assert_accessible(tab, "new provider form with errors")

    tab.get_by_label(re.compile("^Host")).fill("127.0.0.1")
    tab.get_by_label("From email").fill("rewards@example.com")
    tab.get_by_label("Port").fill(str(site.smtp_port))
    tab.get_by_label("Security").select_option("none")
    tab.get_by_role("button", name="Add the provider").click()
    tab.wait_for_url("**/providers/inbox-mail?created=1", timeout=WAIT_MS)
    expect(tab.get_by_role("heading", name="inbox-mail")).to_be_visible()
    expect(tab.locator('[data-secret="password"]')).to_have_text("not set")  # the inbox has no AUTH

    tab.get_by_role("button", name="Check the connection").click()
    expect(tab.locator("[data-check]")).to_contain_text("Check passed", timeout=WAIT_MS)
    assert_accessible(tab, "provider details after a check")
    assert_fits(tab, "a provider's page")
    callback = tab.get_by_label("Callback URL")
    expect(callback).to_have_value(
        re.compile(rf"/v1/provider-webhooks/{site.project_id}/inbox-mail$")
    )
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    tab.get_by_role("button", name="Copy").click()
    expect(tab.get_by_role("button", name="Copied")).to_be_visible()
    assert tab.evaluate("navigator.clipboard.readText()") == callback.input_value()

    stored = ok(api.get("/v1/providers/inbox-mail"))
    assert stored["kind"] == "smtp"
    assert stored["config"]["host"] == "127.0.0.1"
    assert stored["config"]["port"] == site.smtp_port
    assert stored["config"]["security"] == "none"
    assert stored["config"]["from_email"] == "rewards@example.com"
    assert stored["has_secret"]["password"] is False

    # A relay nobody listens on: the check shows the provider's reason.
    _new_provider(tab, site, "smtp", "nowhere-mail")
    tab.get_by_label(re.compile("^Host")).fill("127.0.0.1")
    tab.get_by_label("From email").fill("rewards@example.com")
    tab.get_by_label("Port").fill(str(_closed_port()))
    tab.get_by_label("Security").select_option("none")
    tab.get_by_role("button", name="Add the provider").click()
    tab.wait_for_url("**/providers/nowhere-mail?created=1", timeout=WAIT_MS)
    tab.get_by_role("button", name="Check the connection").click()
    result = tab.locator("[data-check]")
    expect(result).to_contain_text("Check failed", timeout=WAIT_MS)
    expect(result).to_contain_text(re.compile(r"connect|refused", re.IGNORECASE))
    assert_accessible(tab, "provider details after a failed check")

    asked = _accept_confirms(tab)
    tab.get_by_role("button", name="Delete").click()
    tab.wait_for_url("**/providers", timeout=WAIT_MS)
    assert asked[-1].startswith("Delete nowhere-mail?")
    assert "removed for good" in asked[-1]
    assert api.get("/v1/providers/nowhere-mail").status_code == 404

    # The list shows the last check seen in this tab, and checks a row in place.
    checked = tab.locator("[data-table] tbody tr", has_text="inbox-mail")
    expect(checked).to_contain_text("Check passed", timeout=WAIT_MS)
    seeded = tab.locator("[data-table] tbody tr", has_text="local-smtp")
    expect(seeded).to_contain_text("not checked yet")
    seeded.get_by_role("button", name="Check").click()
    expect(seeded).to_contain_text("Check passed", timeout=WAIT_MS)
    assert_accessible(tab, "providers list with check results")
    assert_fits(tab, "the providers list with check results")
    assert not console.errors


def test_a_braze_attributes_sync_is_added_with_a_mapping_row_and_identity(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    _new_provider(tab, site, "braze_attributes", "braze-profile")
    tab.get_by_label("Api key").fill("braze-rest-key")
    expect(tab.locator("[data-fields]")).not_to_contain_text("null")
    tab.get_by_label("Base url").fill("http://127.0.0.1:9")
    tab.get_by_label("Identity").fill("metadata.crm_id")
    tab.get_by_role("button", name="Add a row").click()
    tab.get_by_label("Attributes 1: name on the platform").fill("referral_code")
    tab.get_by_label("Attributes 1: value").fill("code")
    tab.get_by_label("Customer sync", exact=True).check()
    assert_accessible(tab, "new provider form (braze_attributes) with a mapping row")
    tab.get_by_role("button", name="Add the provider").click()
    tab.wait_for_url("**/providers/braze-profile?created=1", timeout=WAIT_MS)
    expect(tab.get_by_label("Attributes 1: value")).to_have_value("code")

    stored = ok(api.get("/v1/providers/braze-profile"))
    assert stored["role"] == "sync"
    assert stored["config"]["attributes"] == {"referral_code": "code"}
    assert stored["config"]["identity"] == "metadata.crm_id"
    assert stored["config"]["customer_sync"] is True
    assert stored["has_secret"]["api_key"] is True
    assert not console.errors


def test_rate_is_edited_and_the_provider_disabled_after_a_confirmation(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    name = f"edit-{secrets.token_hex(3)}"
    ok(
        api.post(
            "/v1/providers",
            json={
                "name": name,
                "kind": "webhook",
                "config": {"url": "http://127.0.0.1:9/x", "secret": WHSEC},
            },
        )
    )
    asked = _accept_confirms(tab)
    tab.goto(f"{site.url}/providers/{name}")
    expect(tab.locator('[data-secret="secret"]')).to_have_text("set", timeout=WAIT_MS)
    tab.get_by_role("button", name="Replace").click()
    tab.get_by_label("Secret").fill(NEW_WHSEC)
    tab.get_by_label("Rate").fill("5")
    tab.get_by_label("Concurrency").fill("2")
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("[data-saved]")).to_have_text("Saved.", timeout=WAIT_MS)
    stored = ok(api.get(f"/v1/providers/{name}"))
    assert (stored["rate_per_second"], stored["max_concurrency"]) == (5, 2)
    assert stored["has_secret"]["secret"] is True
    assert NEW_WHSEC not in tab.content()
    # An emptied limit is removed, the other kept.
    tab.get_by_label("Rate").fill("")
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("[data-saved]")).to_have_text("Saved.", timeout=WAIT_MS)
    stored = ok(api.get(f"/v1/providers/{name}"))
    assert (stored["rate_per_second"], stored["max_concurrency"]) == (None, 2)

    tab.get_by_role("button", name="Disable").click()
    expect(tab.locator("[data-fact-list]")).to_contain_text("Disabled", timeout=WAIT_MS)
    assert asked
    assert asked[-1].startswith(f"Disable {name}?")
    assert "stop" in asked[-1]
    assert ok(api.get(f"/v1/providers/{name}"))["disabled"] is True
    assert_accessible(tab, "a disabled provider")

    tab.get_by_role("button", name="Enable").click()
    expect(tab.locator("[data-fact-list]")).to_contain_text("Enabled", timeout=WAIT_MS)
    assert asked[-1].startswith(f"Enable {name}?")
    assert ok(api.get(f"/v1/providers/{name}"))["disabled"] is False
    tab.get_by_role("button", name="Disable").click()
    expect(tab.locator("[data-fact-list]")).to_contain_text("Disabled", timeout=WAIT_MS)

    tab.goto(site.url + "/providers")
    row = tab.get_by_role("row", name=re.compile(name))
    expect(row).to_contain_text("Disabled", timeout=WAIT_MS)
    expect(row).to_contain_text("no rate limit, 2 at once")
    assert not console.errors


def test_an_api_key_token_is_shown_once_works_then_is_revoked(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    asked = _accept_confirms(tab)
    tab.goto(site.url + "/settings")
    expect(tab.locator("[data-keys]")).to_be_visible(timeout=WAIT_MS)
    assert_accessible(tab, "settings")
    assert_fits(tab, "settings")

    tab.get_by_role("button", name="Create a key").click()
    expect(tab.locator("#key-name-error")).to_be_visible()
    assert_accessible(tab, "settings with a key form error")

    tab.get_by_label("Name of the new key").fill("crm-from-ui")
    tab.get_by_role("button", name="Create a key").click()
    dialog = tab.locator("#secret-dialog")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    token = dialog.locator("[data-secret-value]").inner_text()
    app_id = dialog.locator("[data-secret-facts] dd").inner_text()
    assert token
    assert app_id.startswith("app_")
    assert_accessible(tab, "the token dialog")
    dialog.get_by_role("button", name="I have copied it").click()
    expect(dialog).to_be_hidden()
    tab.reload()
    expect(tab.get_by_role("row", name=re.compile("crm-from-ui"))).to_be_visible(timeout=WAIT_MS)
    assert token not in tab.content()

    headers = {"X-App-Id": app_id, "X-App-Token": token}
    assert httpx.get(site.url + "/v1/customers", headers=headers).status_code == 200

    row = tab.get_by_role("row", name=re.compile("crm-from-ui"))
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("Revoked", timeout=WAIT_MS)
    assert 'Revoke the key "crm-from-ui"?' in asked[-1]
    assert "401" in asked[-1]
    assert httpx.get(site.url + "/v1/customers", headers=headers).status_code == 401
    assert not console.errors


def test_a_webhook_subscription_is_created_and_a_test_call_reaches_it(
    page: tuple[Page, Console], site: Site, receiver: tuple[Receiver, str]
) -> None:
    tab, console = page
    hooks, base = receiver
    path = f"/hooks/ui-{secrets.token_hex(3)}"
    url = base + path
    asked = _accept_confirms(tab)
    tab.goto(site.url + "/settings")
    tab.get_by_label("URL to call").fill(url)
    tab.get_by_role("button", name="Subscribe").click()
    expect(tab.locator("[data-hook-form] [data-problem]")).to_be_visible(timeout=WAIT_MS)
    assert_accessible(tab, "settings with a webhook form error")

    form = tab.locator("[data-hook-form]")  # the streams' form has the same boxes
    form.get_by_label("message.sent").check()
    form.get_by_label("message.failed").check()
    tab.get_by_role("button", name="Subscribe").click()
    dialog = tab.locator("#secret-dialog")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    secret = dialog.locator("[data-secret-value]").inner_text()
    assert secret.startswith("whsec_")
    hooks.secrets[path] = secret
    dialog.get_by_role("button", name="I have copied it").click()

    row = tab.locator("[data-hooks] tbody tr", has_text=url)
    expect(row).to_contain_text("message.failed", timeout=WAIT_MS)
    row.get_by_role("button", name="Send a test").click()
    expect(row.locator(".calls")).to_contain_text("delivered", timeout=WAIT_MS)
    expect(row.locator(".calls")).to_contain_text("webhook.test")
    assert_accessible(tab, "settings with recent webhook calls")
    [got] = [r for r in hooks.received if r.path == path]  # verified with the shown secret
    assert got.event["type"] == "webhook.test"

    # A receiver that is not there: the recent calls show the failure and the next try.
    tab.get_by_label("URL to call").fill("http://127.0.0.1:9/gone")
    form.get_by_label("every event").check()
    tab.get_by_role("button", name="Subscribe").click()
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    dialog.get_by_role("button", name="I have copied it").click()
    gone = tab.locator("[data-hooks] tbody tr", has_text="127.0.0.1:9/gone")
    expect(gone).to_contain_text("every event", timeout=WAIT_MS)
    gone.get_by_role("button", name="Send a test").click()
    expect(gone.locator(".calls")).to_contain_text("next try", timeout=WAIT_MS)
    expect(gone.locator(".calls .badge")).to_have_text("pending")
    assert_accessible(tab, "settings with a failing webhook call")
    gone.get_by_role("button", name="Delete").click()
    expect(gone).to_have_count(0, timeout=WAIT_MS)
    assert "its pending calls are dropped" in asked[-1]

    row.get_by_role("button", name="Rotate secret").click()
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    rotated = dialog.locator("[data-secret-value]").inner_text()
    assert rotated.startswith("whsec_")
    assert rotated != secret
    assert "old secret stops working" in asked[-1]
    dialog.get_by_role("button", name="I have copied it").click()
    assert not console.errors


def test_the_inbound_signing_secret_is_rotated_and_shown_once(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    asked = _accept_confirms(tab)
    tab.goto(site.url + "/settings")
    state = tab.locator("[data-inbound-state]")
    expect(state).to_have_text("not set", timeout=WAIT_MS)
    stop = tab.get_by_role("button", name="Stop requiring signatures")
    expect(stop).to_be_hidden()
    dialog = tab.locator("#secret-dialog")
    box = SecretBox(SECRET)

    tab.get_by_role("button", name="Require signatures").click()
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    first = dialog.locator("[data-secret-value]").inner_text()
    dialog.get_by_role("button", name="I have copied it").click()
    expect(state).to_have_text("set")

    tab.get_by_role("button", name="Rotate the secret").click()
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    second = dialog.locator("[data-secret-value]").inner_text()
    assert "old one stops working" in asked[-1]
    assert second != first
    with site.database.reader() as session:
        assert inbound_secret(session, box, site.project_id) == second
    dialog.get_by_role("button", name="I have copied it").click()

    # Leave the shared site as it was: other tests post unsigned events.
    tab.get_by_role("button", name="Stop requiring signatures").click()
    expect(state).to_have_text("not set", timeout=WAIT_MS)
    expect(stop).to_be_hidden()
    with site.database.reader() as session:
        assert inbound_secret(session, box, site.project_id) is None
    assert not console.errors


def test_a_viewer_sees_providers_without_buttons_and_no_settings(
    browser: Browser, site: Site
) -> None:
    email = f"viewer-{secrets.token_hex(3)}@example.com"
    with site.database.session() as session:
        create_user(session, site.project_id, email, "viewer", PASSWORD)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, site, email)
        tab.goto(site.url + "/providers")
        expect(tab.get_by_role("link", name="local-smtp")).to_be_visible(timeout=WAIT_MS)
        expect(tab.get_by_role("link", name="Add a provider")).to_have_count(0)
        tab.get_by_role("link", name="local-smtp").click()
        expect(tab.get_by_label(re.compile("^Host"))).to_have_value("127.0.0.1", timeout=WAIT_MS)
        expect(tab.get_by_label(re.compile("^Host"))).to_be_disabled()
        expect(tab.get_by_role("button", name="Check the connection")).to_have_count(0)
        expect(tab.get_by_role("button", name="Save changes")).to_have_count(0)
        assert_accessible(tab, "provider details for a viewer")
        assert tab.goto(site.url + "/settings").status == 403  # type: ignore[union-attr]
        assert tab.goto(site.url + "/providers/new").status == 403  # type: ignore[union-attr]
    finally:
        context.close()


def test_an_event_stream_is_created_read_over_the_api_and_deleted(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    asked = _accept_confirms(tab)
    name = f"warehouse {secrets.token_hex(3)}"
    tab.goto(site.url + "/settings")
    form = tab.locator("[data-stream-form]")
    form.get_by_label("Name of the new stream").fill(name)
    tab.get_by_role("button", name="Create the stream").click()
    expect(form).to_contain_text("at least one event type", timeout=WAIT_MS)
    form.get_by_label("code.assigned").check()
    tab.get_by_role("button", name="Create the stream").click()
    row = tab.locator("[data-streams] tbody tr", has_text=name)
    expect(row).to_contain_text("code.assigned", timeout=WAIT_MS)
    assert_accessible(tab, "settings with an event stream")
    assert_fits(tab, "settings with an event stream")
    address = row.locator("code").inner_text()
    with api_client(site) as client:
        [stream] = [s for s in ok(client.get("/v1/streams")) if s["name"] == name]
        assert address == f"/v1/streams/{stream['id']}/events"
        assert ok(client.get(address))["events"] == []
    row.get_by_role("button", name=f"Delete the stream {name}").click()
    expect(row).to_have_count(0, timeout=WAIT_MS)
    assert "events it kept are dropped" in asked[-1]
    assert not console.errors
