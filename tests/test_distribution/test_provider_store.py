"""Provider configs in the database (secrets sealed) and the registry of live providers."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from distribution.errors import ConflictError, InvalidInputError, NotFoundError
from distribution.models import ProviderConfig
from distribution.provider_configs.registry import ProviderRegistry
from distribution.provider_configs.store import (
    create_provider,
    delete_provider,
    full_config,
    get_provider,
    has_secret,
    list_providers,
    update_provider,
)
from distribution.storage.db import Database
from distribution.storage.secrets import SecretBox
from providers import Message, ResilientProvider
from tests.conftest import ProjectCredentials, make_project

BOX = SecretBox("service-secret-for-tests")
PASSWORD = "smtp-password-Zq81xKf0"
SMTP = {
    "host": "smtp.example.com",
    "from_email": "rewards@example.com",
    "username": "apikey",
    "password": PASSWORD,
}
AUTH_TOKEN = "twilio-token-77aa11bb22"
TWILIO = {"account_sid": "AC" + "a" * 32, "auth_token": AUTH_TOKEN, "from_number": "+15005550006"}


def _raw_row(database: Database, project_id: str, name: str) -> str:
    """Every stored column of the row, as text, read straight from the table."""
    with database.reader() as session:
        row = session.exec(
            select(ProviderConfig).where(
                ProviderConfig.project_id == project_id, ProviderConfig.name == name
            )
        ).one()
        return json.dumps(row.model_dump(), default=str) + repr(row)


def _field_errors(error: InvalidInputError) -> dict[str, str]:
    return {e.field: e.reason for e in error.errors}


def test_secrets_are_sealed_at_rest_and_opened_with_the_same_key(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        create_provider(session, pid, BOX, name="mail", kind="smtp", config=SMTP)
    stored = _raw_row(database, pid, "mail")
    assert PASSWORD not in stored
    assert "smtp.example.com" in stored
    with database.reader() as session:
        row = get_provider(session, pid, "mail")
        assert "password" not in row.settings
        assert full_config(row, BOX)["password"] == PASSWORD
        assert has_secret(row, BOX) == {"bounce_webhook_secret": False, "password": True}
        # After DM_SECRET_KEY rotation the secrets are unreadable, and reported as missing.
        rotated = SecretBox("another-service-secret")
        assert "password" not in full_config(row, rotated)
        assert has_secret(row, rotated)["password"] is False
    assert PASSWORD not in repr(BOX)


def test_update_merges_and_keeps_omitted_secrets(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        create_provider(session, pid, BOX, name="mail", kind="smtp", config=SMTP)
    with database.session() as session:
        update_provider(session, pid, BOX, "mail", config={"from_name": "Rewards"})
    with database.reader() as session:
        config = full_config(get_provider(session, pid, "mail"), BOX)
    assert config["password"] == PASSWORD
    assert config["from_name"] == "Rewards"
    assert config["host"] == "smtp.example.com"
    with database.session() as session:
        update_provider(
            session, pid, BOX, "mail", config={"username": None, "password": None}, disabled=True
        )
    with database.reader() as session:
        row = get_provider(session, pid, "mail")
        assert "password" not in full_config(row, BOX)
        assert "username" not in row.settings
        assert row.disabled_at is not None


def test_an_update_that_breaks_the_config_changes_nothing(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        create_provider(session, pid, BOX, name="mail", kind="smtp", config=SMTP)
    with pytest.raises(InvalidInputError) as caught, database.session() as session:
        update_provider(session, pid, BOX, "mail", config={"password": None})
    assert "config.username" in _field_errors(caught.value)
    with database.reader() as session:
        assert full_config(get_provider(session, pid, "mail"), BOX)["password"] == PASSWORD


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("smtp", {"host": "smtp.example.com"}, "config.from_email"),
        ("smtp", {**SMTP, "bogus": 1}, "config.bogus"),
        ("smtp", {**SMTP, "port": "587"}, "config.port"),
        ("smtp", {**SMTP, "password": 42}, "config.password"),
        ("smtp", {**SMTP, "from_name": "a\x00b"}, "config.from_name"),
        ("twilio", {**TWILIO, "account_sid": "nope"}, "config.account_sid"),
        ("twilio", {"account_sid": "AC" + "a" * 32, "from_number": "+1"}, "config.auth_token"),
        ("capture", {"path": "/etc/passwd"}, "config.path"),
        ("pigeon", {}, "kind"),
    ],
)
def test_invalid_configs_name_the_field_and_never_the_secret(
    database: Database,
    project: ProjectCredentials,
    kind: str,
    config: dict[str, object],
    field: str,
) -> None:
    with pytest.raises(InvalidInputError) as caught, database.session() as session:
        create_provider(session, project.project.id, BOX, name="p", kind=kind, config=config)
    assert field in _field_errors(caught.value)
    assert PASSWORD not in str(caught.value)
    assert AUTH_TOKEN not in str(caught.value)


@pytest.mark.parametrize("name", ["capture", "kinds", "", "has space", "a/b", "x" * 101])
def test_reserved_and_unsafe_names_are_refused(
    database: Database, project: ProjectCredentials, name: str
) -> None:
    with pytest.raises(InvalidInputError) as caught, database.session() as session:
        create_provider(session, project.project.id, BOX, name=name, kind="capture", config={})
    assert "name" in _field_errors(caught.value)


def test_names_are_unique_per_project_and_private(
    database: Database, project: ProjectCredentials
) -> None:
    other = make_project(database)
    with database.session() as session:
        create_provider(session, project.project.id, BOX, name="mail", kind="smtp", config=SMTP)
        create_provider(session, other.project.id, BOX, name="mail", kind="smtp", config=SMTP)
    with pytest.raises(ConflictError), database.session() as session:
        create_provider(session, project.project.id, BOX, name="mail", kind="capture", config={})
    with database.session() as session:
        delete_provider(session, other.project.id, "mail")
    with database.reader() as session:
        assert [p.name for p in list_providers(session, project.project.id)] == ["mail"]
        assert list_providers(session, other.project.id) == []
        with pytest.raises(NotFoundError):
            get_provider(session, other.project.id, "mail")


def _sms(to: str = "+15005550006") -> Message:
    return Message(id="dlv_1", channel="sms", to=to, body="Your code is ABC")


async def test_registry_builds_caches_and_rebuilds_after_a_change(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        create_provider(
            session, pid, BOX, name="outbox", kind="capture", config={}, max_concurrency=3
        )
    registry = ProviderRegistry(database, BOX)
    try:
        first = await registry.sender(pid, "outbox")
        assert isinstance(first, ResilientProvider)
        assert first.max_concurrency == 3
        assert await registry.sender(pid, "outbox") is first
        await first.send(_sms())
        with database.session() as session:
            update_provider(session, pid, BOX, "outbox", max_concurrency=5)
        second = await registry.sender(pid, "outbox")
        assert second is not first
        assert isinstance(second, ResilientProvider)
        assert second.max_concurrency == 5
        with database.session() as session:
            delete_provider(session, pid, "outbox")
        with pytest.raises(NotFoundError):
            await registry.sender(pid, "outbox")
    finally:
        await registry.aclose()


async def test_registry_refuses_unknown_disabled_sync_and_unreadable_providers(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        create_provider(session, pid, BOX, name="sms", kind="twilio", config=TWILIO)
        create_provider(
            session,
            pid,
            BOX,
            name="audience",
            kind="mailchimp_audience",
            config={
                "api_key": "0123456789abcdef-us6",
                "list_id": "l1",
                "merge_fields": {"CODE": "code"},
            },
        )
    registry = ProviderRegistry(database, BOX)
    rotated = ProviderRegistry(database, SecretBox("rotated-service-secret"))
    try:
        with pytest.raises(NotFoundError):
            await registry.sender(pid, "nope")
        with pytest.raises(ConflictError, match="sync"):
            await registry.sender(pid, "audience")
        assert (await registry.sync(pid, "audience")).kind == "mailchimp_audience"
        with pytest.raises(ConflictError, match="re-enter"):
            await rotated.sender(pid, "sms")
        assert (await registry.sender(pid, "sms")).kind == "twilio"
        with database.session() as session:
            update_provider(session, pid, BOX, "sms", disabled=True)
        with pytest.raises(ConflictError, match="disabled"):
            await registry.sender(pid, "sms")
        # Another project cannot reach this project's provider by name.
        with pytest.raises(NotFoundError):
            await registry.sender(make_project(database).project.id, "sms")
    finally:
        await registry.aclose()
        await rotated.aclose()


async def test_builtin_capture_keeps_each_projects_messages(
    database: Database, project: ProjectCredentials
) -> None:
    other = make_project(database)
    registry = ProviderRegistry(database, BOX)
    sender = await registry.sender(project.project.id, "capture")
    result = await sender.send(_sms())
    assert result.status == "sent"
    assert [c.message.body for c in registry.captured(project.project.id).messages] == [
        "Your code is ABC"
    ]
    assert registry.captured(other.project.id).messages == ()
    outcome = await registry.check(project.project.id, "capture")
    assert outcome.ok
    await registry.aclose()
