"""``/v1/async-actions/{id}``: the status and result of Voucherify-style async actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from distribution.customers.async_actions import get_action
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.stored_times import utc

__all__ = ["AsyncActionController"]

# Voucherify's operation_status for each status: whether the action as a whole succeeded.
_OPERATION_STATUS = {"DONE": "SUCCESS", "FAILED": "FAILED"}


class AsyncActionOut(msgspec.Struct):
    """Voucherify's async action: ``status`` ENQUEUED, IN_PROGRESS, DONE or FAILED.

    ``result`` (when done) counts the rows written and failed; ``results`` lists each written
    row and ``failed`` each refused one with its field errors.
    """

    id: str
    type: str
    status: str
    operation_status: str
    created_at: datetime
    updated_at: datetime
    processing_time: int | None
    progress: int
    result: dict[str, Any] | None
    request_id: str | None = None
    object: str = "async_action"


class AsyncActionController(Controller):
    """Async actions of the caller's project."""

    path = "/v1/async-actions"
    tags = ["customers"]
    security = SECURITY

    @get("/{action_id:str}", sync_to_thread=True, summary="An async action's status and result")
    def retrieve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        action_id: FromPath[str],
    ) -> AsyncActionOut:
        with db.reader() as session:
            action = get_action(session, caller.project_id, action_id)
        finished = action.status in _OPERATION_STATUS
        return AsyncActionOut(
            id=action.id,
            type=action.type,
            status=action.status,
            operation_status=_OPERATION_STATUS.get(action.status, "UNKNOWN"),
            created_at=utc(action.created_at),
            updated_at=utc(action.updated_at),
            processing_time=action.processing_time,
            progress=100 if finished else 0,
            result=action.result,
        )
