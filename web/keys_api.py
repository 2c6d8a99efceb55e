"""``/v1/api-keys``: a project's own API keys. Tokens are shown once, at creation."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from distribution.accounts.projects import create_api_key, list_api_keys, revoke_api_key
from distribution.models import ApiKey
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.stored_times import utc, utc_or_none

__all__ = ["ApiKeyController"]


class ApiKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str = "default"


class ApiKeyOut(msgspec.Struct):
    """A key; ``token`` is present only in the answer to its creation."""

    id: str
    name: str
    app_id: str
    created_at: datetime
    revoked_at: datetime | None
    token: str | None = None
    object: str = "api_key"


def _out(key: ApiKey, token: str | None = None) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        app_id=key.app_id,
        created_at=utc(key.created_at),
        revoked_at=utc_or_none(key.revoked_at),
        token=token,
    )


class ApiKeyController(Controller):
    """Create, list and revoke the caller's API keys."""

    path = "/v1/api-keys"
    tags = ["api keys"]
    security = SECURITY

    @post("/", sync_to_thread=True, summary="Create an API key (the token is shown once)")
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: JSONBody[ApiKeyIn],
    ) -> ApiKeyOut:
        with db.session() as session:
            new = create_api_key(session, caller.project_id, data.name[:100])
        return _out(new.key, new.token)

    @get("/", sync_to_thread=True, summary="List API keys")
    def list(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller]
    ) -> list[ApiKeyOut]:
        with db.reader() as session:
            return [_out(k) for k in list_api_keys(session, caller.project_id)]

    @delete("/{key_id:str}", sync_to_thread=True, status_code=204, summary="Revoke an API key")
    def revoke(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        key_id: FromPath[str],
    ) -> None:
        with db.session() as session:
            revoke_api_key(session, caller.project_id, key_id)
