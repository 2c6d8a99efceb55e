"""The campaign and customer pages: signed-in only, one shell per page whose scripts act through
/ui/v1; editors get the forms, viewers see everything but no change controls (and the gateway
refuses their changes)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import ProjectCredentials
from tests.test_web.ui_sign_in import header_token, make_user, sign_in

PAGES = {
    "/campaigns": ('id="new-campaign"', "campaigns.js"),
    "/campaigns/camp_x": ('id="new-pool"', "campaigns.js"),
    "/customers": ('id="new-customer"', "customers.js"),
    "/customers/cust_x": ('id="erase-dialog"', "customers.js"),
}


@pytest.fixture
def browser(app: Litestar) -> TestClient[Litestar]:
    return TestClient(app)


def test_the_pages_need_sign_in(browser: TestClient[Litestar]) -> None:
    for path in PAGES:
        answer = browser.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_editors_get_the_forms_and_viewers_do_not(
    role: str,
    browser: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
) -> None:
    person = make_user(app_database, api_project, role)
    sign_in(browser, person.email)
    for path, (form, script) in PAGES.items():
        answer = browser.get(path)
        assert answer.status_code == 200, path
        assert f'src="/ui/static/{script}"' in answer.text
        assert (form in answer.text) == (role == "editor"), (path, role)
        assert 'aria-current="page"' in answer.text
    token = header_token(browser)
    created = browser.post(
        "/ui/v1/campaigns", json={"name": f"By {role}"}, headers={"X-CSRF-Token": token}
    )
    assert created.status_code == (201 if role == "editor" else 403)
    pools = browser.get("/ui/v1/code-pools")
    assert pools.status_code == 200
