"""Voucherify's async actions over customers: bulk updates and metadata updates, run in-process.

The request stores the action with its input and answers its id at once; ``AsyncActionRunner``
(started by the service) runs it and stores the result. An action's writes and its ``DONE`` are
one transaction, so an action interrupted by a restart is found ``ENQUEUED`` or ``IN_PROGRESS``
and runs again; its writes are upserts by ``source_id``, so running twice writes the same
values. Every row is either written or listed with its reasons in the result: nothing is dropped.

Statuses are Voucherify's: ``ENQUEUED`` -> ``IN_PROGRESS`` -> ``DONE`` (or ``FAILED`` when the
action itself could not run, which a row's invalid field never causes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from distribution.customers.customer_input import CustomerIn, validate_customer
from distribution.customers.customer_rows import rows_by_source_id
from distribution.customers.store import upsert_customers
from distribution.errors import FieldError, InvalidInputError, NotFoundError, PayloadTooLargeError
from distribution.models import AsyncAction, Project, utcnow
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from distribution.storage.polling_loop import PollingLoop

__all__ = [
    "BULK_UPDATE",
    "IMPORT_CSV",
    "MAX_ROWS",
    "METADATA_UPDATE",
    "AsyncActionRunner",
    "enqueue_bulk_update",
    "enqueue_metadata_update",
    "get_action",
    "record_done",
    "run_action",
]

log = logging.getLogger("distribution.async_actions")

BULK_UPDATE = "CUSTOMERS_BULK_UPDATE"
METADATA_UPDATE = "CUSTOMERS_METADATA_UPDATE"
IMPORT_CSV = "CUSTOMERS_IMPORT_CSV"
#: Rows (or source ids) one action takes; Voucherify takes 100, our ``/batch`` 1,000.
MAX_ROWS = 1_000


def enqueue_bulk_update(session: Session, project_id: str, rows: Any) -> AsyncAction:
    """Store a bulk update of customers (a list of customer objects, each with a source_id)."""
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise InvalidInputError([FieldError("body", "must be an array of customer objects")])
    if not rows:
        raise InvalidInputError([FieldError("body", "must hold at least one customer")])
    _check_size(len(rows), "customers")
    return _enqueue(session, project_id, BULK_UPDATE, rows)


def enqueue_metadata_update(
    session: Session, project_id: str, source_ids: list[str], metadata: dict[str, Any]
) -> AsyncAction:
    """Store a metadata update of the customers with these source ids (checked now, whole)."""
    errors: list[FieldError] = []
    if not source_ids:
        errors.append(FieldError("source_ids", "must hold at least one source_id"))
    _check_size(len(source_ids), "source_ids")
    checked = validate_customer(CustomerIn(metadata=metadata), default_region="US")
    if isinstance(checked, list):
        errors += checked
    elif not metadata:
        errors.append(FieldError("metadata", "must set or remove at least one key"))
    if errors:
        raise InvalidInputError(errors)
    return _enqueue(
        session, project_id, METADATA_UPDATE, {"source_ids": source_ids, "metadata": metadata}
    )


def record_done(
    session: Session, project_id: str, kind: str, result: dict[str, Any], started: float
) -> AsyncAction:
    """Store an action that ran within its request (a CSV import) with its result."""
    action = AsyncAction(
        id=new_id("aa"),
        project_id=project_id,
        type=kind,
        status="DONE",
        result=result,
        processing_time=_elapsed_ms(started),
    )
    session.add(action)
    session.flush()
    return action


def get_action(session: Session, project_id: str, action_id: str) -> AsyncAction:
    """An async action of the project."""
    action = session.exec(
        select(AsyncAction).where(AsyncAction.project_id == project_id, AsyncAction.id == action_id)
    ).first()
    if action is None:
        raise NotFoundError("async action", action_id)
    return action


def _check_size(count: int, field: str) -> None:
    if count > MAX_ROWS:
        raise PayloadTooLargeError(f"{field}: an async action takes at most {MAX_ROWS:,} items")


def _enqueue(session: Session, project_id: str, kind: str, payload: Any) -> AsyncAction:
    action = AsyncAction(id=new_id("aa"), project_id=project_id, type=kind, payload=payload)
    session.add(action)
    session.flush()
    return action


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def run_action(database: Database, action_id: str) -> bool:
    """Claim one enqueued action and run it to ``DONE``; False if another runner has it."""
    with database.session() as session:
        claimed = session.connection().execute(
            update(AsyncAction)
            .where(col(AsyncAction.id) == action_id, col(AsyncAction.status) == "ENQUEUED")
            .values(status="IN_PROGRESS", updated_at=utcnow())
        )
        if claimed.rowcount != 1:
            return False
    started = time.monotonic()
    try:
        with database.session() as session:
            action = session.get(AsyncAction, action_id)
            if action is None or action.payload is None:
                return False  # done meanwhile by the runner a requeue took it from
            project = session.get(Project, action.project_id)
            region = project.default_region if project is not None else "US"
            if action.type == BULK_UPDATE:
                result = _bulk_update(session, action.project_id, action.payload, region)
            else:
                result = _metadata_update(session, action.project_id, action.payload, region)
            _finish(action, "DONE", result, started)
            session.add(action)
    except Exception:
        # Not a row's invalid field (those are in the result): the action itself broke.
        log.exception("async action %s failed", action_id)
        with database.session() as session:
            action = session.get(AsyncAction, action_id)
            if action is not None:
                _finish(action, "FAILED", {"message": "the action could not run"}, started)
                session.add(action)
    return True


def _finish(action: AsyncAction, status: str, result: dict[str, Any], started: float) -> None:
    action.status = status
    action.result = result
    action.payload = None  # done: the input is no longer needed to run it again
    action.processing_time = _elapsed_ms(started)
    action.updated_at = utcnow()


def _bulk_update(
    session: Session, project_id: str, rows: list[dict[str, Any]], region: str
) -> dict[str, Any]:
    # A row without source_id would create a new customer on each run of a retried action.
    keyed = [(i, row) for i, row in enumerate(rows) if isinstance(row.get("source_id"), str)]
    failed = [
        _failure(i, None, [FieldError("source_id", "is required in a bulk update")])
        for i, row in enumerate(rows)
        if not isinstance(row.get("source_id"), str)
    ]
    items = upsert_customers(session, project_id, [row for _, row in keyed], default_region=region)
    results = []
    for item in items:
        index, row = keyed[item.index]
        if item.errors:
            failed.append(_failure(index, row["source_id"], item.errors))
        else:
            results.append(
                {
                    "index": index,
                    "source_id": row["source_id"],
                    "id": item.customer_id,
                    "created": item.created,
                    "updated": True,
                }
            )
    return _summary(results, failed)


def _metadata_update(
    session: Session, project_id: str, payload: dict[str, Any], region: str
) -> dict[str, Any]:
    source_ids: list[str] = payload["source_ids"]
    existing = rows_by_source_id(session, project_id, set(source_ids))
    found = [(i, sid) for i, sid in enumerate(source_ids) if sid in existing]
    failed = [
        _failure(i, sid, [FieldError("source_id", "no customer has this source_id")])
        for i, sid in enumerate(source_ids)
        if sid not in existing
    ]
    rows = [CustomerIn(source_id=sid, metadata=payload["metadata"]) for _, sid in found]
    items = upsert_customers(session, project_id, rows, default_region=region)
    results = []
    for item in items:
        index, sid = found[item.index]
        if item.errors:
            failed.append(_failure(index, sid, item.errors))
        else:
            results.append({"index": index, "source_id": sid, "id": item.customer_id})
    return _summary(results, failed)


def _failure(index: int, source_id: str | None, errors: Any) -> dict[str, Any]:
    return {
        "index": index,
        "source_id": source_id,
        "errors": [{"field": e.field, "reason": e.reason} for e in errors],
    }


def _summary(results: list[dict[str, Any]], failed: list[dict[str, Any]]) -> dict[str, Any]:
    failed.sort(key=lambda f: f["index"])
    return {
        "message": f"{len(results)} updated, {len(failed)} failed",
        "done_count": len(results),
        "failed_count": len(failed),
        "results": results,
        "failed": failed,
    }


class AsyncActionRunner(PollingLoop):
    """Runs the enqueued async actions of every project, one at a time, in a thread."""

    name = "async-action-runner"

    def __init__(
        self, database: Database, *, poll_interval: float = 5.0, stale_after: float = 600.0
    ) -> None:
        super().__init__(poll_interval=poll_interval, shutdown_grace=30.0)
        self.database = database
        self.stale_after = stale_after

    async def before_start(self) -> None:
        # On SQLite this is the only process: whatever is IN_PROGRESS was left by a stopped one.
        if self.database.is_sqlite:
            await asyncio.to_thread(self._requeue, datetime.max)

    def _requeue(self, claimed_before: datetime) -> None:
        """Run again the actions claimed before then: their runner stopped (its transaction
        rolled back). Elsewhere a claim that old is a runner of another process that died."""
        with self.database.session() as session:
            session.connection().execute(
                update(AsyncAction)
                .where(
                    col(AsyncAction.status) == "IN_PROGRESS",
                    col(AsyncAction.updated_at) < claimed_before,
                )
                .values(status="ENQUEUED")
            )

    async def run_once(self) -> int:
        def due() -> list[str]:
            with self.database.reader() as session:
                return list(
                    session.exec(
                        select(AsyncAction.id)
                        .where(AsyncAction.status == "ENQUEUED")
                        .order_by(col(AsyncAction.id))
                        .limit(10)
                    )
                )

        # An action takes seconds; one claimed this long ago has no runner any more.
        await asyncio.to_thread(self._requeue, utcnow() - timedelta(seconds=self.stale_after))
        handled = 0
        for action_id in await asyncio.to_thread(due):
            if self._stopping:
                break
            handled += await asyncio.to_thread(run_action, self.database, action_id)
        return handled
