"""A template's page and an old version's page: editors get the change buttons, viewers read."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import ProjectCredentials, make_project
from tests.test_web.ui_sign_in import make_user, sign_in

CHANGES = ('id="rename-form"', 'id="duplicate-form"', 'id="archive-form"', 'id="variant-form"')


def test_editors_get_the_buttons_viewers_do_not(
    app: Litestar,
    client: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
) -> None:
    created = client.post(
        "/v1/templates",
        json={"name": "Pages", "channel": "sms", "category": "transactional", "body": "x"},
    ).json()
    version_id = created["variants"][0]["latest_draft"]["id"]
    pages = (f"/templates/{created['id']}", f"/templates/{created['id']}/versions/{version_id}")
    editor = TestClient(app, base_url="http://127.0.0.1")
    sign_in(editor, make_user(app_database, api_project, "editor").email)
    template_page = editor.get(pages[0]).text
    assert all(marker in template_page for marker in CHANGES)
    assert f'href="/templates/{created["id"]}/versions/{version_id}"' in template_page
    assert 'id="restore-form"' in editor.get(pages[1]).text

    viewer = TestClient(app, base_url="http://127.0.0.1")
    sign_in(viewer, make_user(app_database, api_project, "viewer").email)
    seen = viewer.get(pages[0])
    assert seen.status_code == 200
    assert not any(marker in seen.text for marker in CHANGES)
    version_page = viewer.get(pages[1])
    assert version_page.status_code == 200
    assert "x</pre>" in version_page.text
    assert 'id="restore-form"' not in version_page.text

    stranger = TestClient(app, base_url="http://127.0.0.1")
    sign_in(stranger, make_user(app_database, make_project(app_database), "editor").email)
    assert stranger.get(pages[1]).status_code == 404
