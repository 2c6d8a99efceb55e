"""JSON behind the live pages: the delivery feed, one message, distribution counts, bulk sends.

The feed is polled. The first call returns the newest page, a ``cursor`` (the server's time) and
a ``floor`` (an id bound at that time). Each later call sends the cursor and ``from_id`` (the
oldest id on screen, or the floor while nothing is shown) and gets the messages created or
changed since, newest first, with ``gone`` naming rows that left the status filter. The cursor is
looked at ``LOOKBACK`` earlier than it says, so a change written with an earlier time by a
transaction that committed after the last poll is still seen; the browser merges repeats by id.
Messages created more than ``FOLLOW`` ago are no longer followed, which bounds the index walk of
a filtered feed whose rows on screen are old.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from distribution.bulk import JobAction, JobWakers, control_job, get_job
from distribution.errors import FieldError, InvalidInputError
from distribution.events.distributions import get_distribution
from distribution.models import utcnow
from distribution.outbox.messages import (
    DELIVERY_STATUSES,
    MESSAGE_ID_PREFIX,
    changed_messages,
    get_message,
    list_messages,
    message_labels,
    status_history,
)
from distribution.outbox.notifiers import DeliveryNotifier, Waker
from distribution.storage.db import Database
from distribution.storage.ids import first_id_at
from web.ui.feeds_views import (
    CHANNELS,
    bulk_job_names,
    delivery_json,
    distribution_counts,
    history_json,
    iso,
    job_json,
)
from web.ui.session import EDITORS_ONLY, UiUser

__all__ = ["FeedsApiController"]

PAGE = 50
LOOKBACK = timedelta(seconds=10)
FOLLOW = timedelta(hours=1)


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    """Cancel a bulk send; ``release_codes`` gives unsent recipients' codes back to the pool."""

    release_codes: bool = False


def _check_filters(status: str, channel: str) -> None:
    errors = []
    if status and status not in DELIVERY_STATUSES:
        errors.append(FieldError("status", f"must be one of {', '.join(DELIVERY_STATUSES)}"))
    if channel and channel not in CHANNELS:
        errors.append(FieldError("channel", 'must be "email" or "sms"'))
    if errors:
        raise InvalidInputError(errors)


def _parse_cursor(cursor: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(cursor.removesuffix("Z"))
    except ValueError:
        raise InvalidInputError([FieldError("cursor", "is not a cursor from this feed")]) from None
    return parsed.replace(tzinfo=None)


class FeedsApiController(Controller):
    """Read by everyone signed in; bulk-send actions need the editor role."""

    path = "/ui/api"

    @get("/deliveries", sync_to_thread=True)
    def deliveries(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        status: FromQuery[str] = "",
        channel: FromQuery[str] = "",
        distribution: FromQuery[str] = "",
        bulk_job: FromQuery[str] = "",
        cursor: FromQuery[str] = "",
        from_id: FromQuery[str] = "",
        test: FromQuery[str] = "",
    ) -> dict[str, Any]:
        """The newest messages, or (with ``cursor``) those created or changed since; ``test``
        "true" keeps only the editor's test sends, "false" leaves them out."""
        _check_filters(status, channel)
        tests = {"true": True, "false": False}.get(test)
        now = utcnow()
        gone: list[str] = []
        with db.reader() as tx:
            if cursor:
                page = changed_messages(
                    tx,
                    user.project_id,
                    since=_parse_cursor(cursor) - LOOKBACK,
                    from_id=from_id,
                    created_since=now - FOLLOW,
                    channel=channel or None,
                    distribution_id=distribution or None,
                    bulk_job_id=bulk_job or None,
                )
                rows = [
                    m
                    for m in page.rows
                    if (not status or m.status == status) and tests in (None, m.test)
                ]
                gone = [m.id for m in page.rows if status and m.status != status]
            else:
                page = list_messages(
                    tx,
                    user.project_id,
                    limit=PAGE,
                    status=status or None,
                    channel=channel or None,
                    distribution_id=distribution or None,
                    bulk_job_id=bulk_job or None,
                    test=tests,
                )
                rows = page.rows
            labels = message_labels(tx, user.project_id, rows)
            bulk = bulk_job_names(
                tx, user.project_id, {m.bulk_job_id for m in rows if m.bulk_job_id}
            )
        return {
            "rows": [delivery_json(m, labels, bulk) for m in rows],
            "gone": gone,
            # More changed since the last poll than one answer holds (the newest are shown).
            "truncated": bool(cursor) and page.has_more,
            "cursor": iso(now),
            "floor": first_id_at(MESSAGE_ID_PREFIX, now - LOOKBACK),
        }

    @get("/deliveries/{message_id:str}", sync_to_thread=True)
    def delivery(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        message_id: FromPath[str],
    ) -> dict[str, Any]:
        """One message: its row, what was rendered and its status history."""
        with db.reader() as tx:
            message = get_message(tx, user.project_id, message_id)
            labels = message_labels(tx, user.project_id, [message])
            bulk = bulk_job_names(tx, user.project_id, [message.bulk_job_id or ""])
            history = history_json(status_history(tx, message.id))
            return {
                **delivery_json(message, labels, bulk),
                "last_error": message.last_error,
                "provider_message_id": message.provider_message_id,
                "provider_status": message.provider_status,
                "sent_at": iso(message.sent_at),
                "content": message.content,
                "history": history,
            }

    @get("/distributions/{distribution_id:str}/counts", sync_to_thread=True)
    def distribution_counts(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        distribution_id: FromPath[str],
        window: FromQuery[str] = "24h",
    ) -> dict[str, Any]:
        """A distribution's counts by status over the window (``24h``, ``7d``, ``30d``)."""
        with db.reader() as tx:
            found = get_distribution(tx, user.project_id, distribution_id)
            return distribution_counts(tx, found, window)

    @get("/bulk-sends/{job_id:str}", sync_to_thread=True)
    def bulk_send(
        self, user: NamedDependency[UiUser], db: NamedDependency[Database], job_id: FromPath[str]
    ) -> dict[str, Any]:
        """A bulk send's progress."""
        with db.reader() as tx:
            return job_json(tx, get_job(tx, user.project_id, job_id))

    @post(
        "/bulk-sends/{job_id:str}/{action:str}",
        sync_to_thread=True,
        status_code=200,
        guards=[EDITORS_ONLY],
    )
    def control(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        bulk_runner: NamedDependency[Waker],
        worker: NamedDependency[DeliveryNotifier],
        job_id: FromPath[str],
        action: FromPath[JobAction],
        data: JSONBody[CancelIn | None] = None,
    ) -> dict[str, Any]:
        """Pause, resume, send now, or cancel (keeping or releasing codes as chosen)."""
        release = data.release_codes if data is not None else False
        return control_job(
            db,
            user.project_id,
            job_id,
            action,
            job_json,
            JobWakers(bulk_runner, worker),
            release_codes=release,
        )
