"""The Users page in headless Chromium: an admin adds a person (the generated password shown
once), changes a role, and disables someone only after confirming what that does; each result is
checked in the database."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlmodel import select

from distribution.models import User
from tests.test_browser.accessibility import assert_accessible
from tests.test_browser.conftest import Console, Site

pytestmark = pytest.mark.browser


def _user(site: Site, email: str) -> User:
    with site.database.reader() as tx:
        found = tx.exec(
            select(User).where(User.project_id == site.project_id, User.email == email)
        ).one()
        tx.expunge(found)
        return found


def test_an_admin_adds_a_user_changes_the_role_and_disables_after_confirming(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    email = f"ana-{secrets.token_hex(3)}@example.com"
    tab.goto(site.url + "/users")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Role", exact=True).select_option("editor")
    tab.get_by_role("button", name="Add user").click()
    expect(tab.get_by_role("status")).to_contain_text(f"Added {email}")
    expect(tab.locator("#new-password")).not_to_be_empty()
    assert _user(site, email).role == "editor"
    assert_accessible(tab, "users after adding one")

    tab.get_by_label(f"Role of {email}", exact=True).select_option("viewer")
    tab.get_by_role("button", name=f"Change the role of {email}").click()
    expect(tab.get_by_label(f"Role of {email}", exact=True)).to_have_value("viewer")
    assert _user(site, email).role == "viewer"

    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    tab.once("dialog", dismiss)
    tab.get_by_role("button", name=f"Disable {email}").click()
    expect(tab.get_by_role("button", name=f"Disable {email}")).to_be_visible()
    assert len(asked) == 1, asked
    assert email in asked[0]
    assert "cannot sign in" in asked[0]
    assert _user(site, email).disabled_at is None  # dismissed: nothing changed

    tab.once("dialog", lambda dialog: dialog.accept())
    tab.get_by_role("button", name=f"Disable {email}").click()
    expect(tab.get_by_role("button", name=f"Enable {email}")).to_be_visible()
    assert _user(site, email).disabled_at is not None
    assert not console.errors, console.errors


def test_a_refused_user_shows_its_error_at_the_form(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    tab.goto(site.url + "/users")
    tab.get_by_label("Email").fill(site.editor_email)  # already a user of the project
    tab.get_by_role("button", name="Add user").click()
    alert = tab.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(tab.get_by_label("Email")).to_have_attribute("aria-describedby", "add-user-error")
    expect(tab.get_by_label("Email")).to_have_value(site.editor_email)
    assert_accessible(tab, "users with an error")
