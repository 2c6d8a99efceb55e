"""Users of the editor and signing them in through the login form, CSRF token included."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from litestar import Litestar
from litestar.testing import TestClient

from distribution.accounts.users import create_user
from distribution.storage.db import Database
from tests.conftest import ProjectCredentials

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Person:
    email: str
    role: str
    project: ProjectCredentials


def make_user(database: Database, project: ProjectCredentials, role: str) -> Person:
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    with database.session() as session:
        create_user(session, project.project.id, email, role, PASSWORD)
    return Person(email, role, project)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient[Litestar], email: str, password: str = PASSWORD) -> object:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/customers"},
        follow_redirects=False,
    )


def header_token(client: TestClient[Litestar]) -> str:
    page = client.get("/customers").text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found
    return found.group(1)
