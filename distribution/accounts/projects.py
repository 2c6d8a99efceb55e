"""Projects (tenants) and their API keys.

Tokens are 256-bit random secrets, so a plain SHA-256 is the right hash: it is not guessable and
costs microseconds per request (a slow password hash would only add latency).

Every request authenticates, so a successful lookup is cached per process, keyed on the app id
and the token's hash (the token itself is never kept), until a key is revoked here or for
``project_cache.TTL_SECONDS`` (a revocation by another process, such as ``dm keys revoke``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlmodel import Session, col, select

from distribution.accounts.project_cache import API_KEYS, CACHE, changed, detached
from distribution.errors import AuthenticationError, ConflictError, NotFoundError
from distribution.models import ApiKey, Project, utcnow
from distribution.storage.ids import new_id, new_secret
from distribution.storage.project_rows import project_row

__all__ = [
    "NewApiKey",
    "authenticate",
    "cached_project",
    "create_api_key",
    "create_project",
    "find_project",
    "list_api_keys",
    "revoke_api_key",
]


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created key: the only moment the token is visible."""

    key: ApiKey
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_project(session: Session, name: str, *, default_region: str = "US") -> Project:
    """Create a project; names are unique."""
    if session.exec(select(Project).where(Project.name == name)).first() is not None:
        raise ConflictError(f"a project named {name!r} already exists")
    project = Project(id=new_id("proj"), name=name, default_region=default_region.upper())
    session.add(project)
    session.flush()
    return project


def find_project(session: Session, name_or_id: str) -> Project:
    """A project by name or id."""
    project = session.exec(
        select(Project).where((Project.name == name_or_id) | (Project.id == name_or_id))
    ).first()
    if project is None:
        raise NotFoundError("project", name_or_id)
    return project


def create_api_key(session: Session, project_id: str, name: str = "default") -> NewApiKey:
    """Create a key for a project and return its token once."""
    token = new_secret("tok")
    key = ApiKey(
        id=new_id("key"),
        project_id=project_id,
        name=name,
        app_id=new_id("app"),
        token_hash=_hash(token),
    )
    session.add(key)
    session.flush()
    return NewApiKey(key=key, token=token)


def list_api_keys(session: Session, project_id: str) -> list[ApiKey]:
    """A project's keys, oldest first (tokens are not stored, so never shown)."""
    return list(
        session.exec(select(ApiKey).where(ApiKey.project_id == project_id).order_by(col(ApiKey.id)))
    )


def revoke_api_key(session: Session, project_id: str, key_id: str) -> ApiKey:
    """Revoke a key; later requests with it get 401."""
    key = project_row(session, ApiKey, project_id, key_id, "api_key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        changed(session, API_KEYS)
    return key


def authenticate(session: Session, app_id: str | None, token: str | None) -> Project:
    """The project of a valid, unrevoked ``X-App-Id``/``X-App-Token`` pair (a detached copy)."""
    if not app_id or not token:
        raise AuthenticationError("send the X-App-Id and X-App-Token headers")
    token_hash = _hash(token)
    return CACHE.get(
        API_KEYS,
        ("api-key", app_id, token_hash),
        lambda: detached(_check_key(session, app_id, token_hash)),
    )


def _check_key(session: Session, app_id: str, token_hash: str) -> Project:
    row = session.exec(
        select(ApiKey, Project)
        .join(Project, col(Project.id) == col(ApiKey.project_id))
        .where(ApiKey.app_id == app_id)
    ).first()
    # Compare even when the key is unknown so that timing does not tell which app ids exist.
    expected = row[0].token_hash if row else _hash("")
    if not hmac.compare_digest(expected, token_hash) or row is None:
        raise AuthenticationError("unknown X-App-Id or wrong X-App-Token")
    if row[0].revoked_at is not None:
        raise AuthenticationError("this API key has been revoked")
    return row[1]


def cached_project(session: Session, project_id: str) -> Project:
    """The project's row, a detached copy cached until the project's settings change.

    Raises:
        NotFoundError: No such project (never cached).
    """

    def load() -> Project:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFoundError("project", project_id)
        return detached(project)

    return CACHE.get(project_id, ("project", project_id), load)
