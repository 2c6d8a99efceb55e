"""Follow-ups: a delayed distribution's waits, re-checked and sent (or skipped) when due.

An event matching a distribution with a ``delay`` writes a ``follow_up`` row instead of
deliveries (``ingest``). ``run_due_follow_ups`` takes the due rows one transaction each: it
moves the row out of ``waiting`` (a conditional update, so of two schedulers racing one wins
and the other changes nothing), checks the distribution's ``recheck``, and either writes the
deliveries or records why not. Killed half-way, the transaction is rolled back and the row
waits again: nothing is lost and nothing is sent twice (the deliveries' idempotency keys are
the event's, as without a delay).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from distribution.accounts.projects import cached_project
from distribution.customers.segment_filter import matches, parse_filter
from distribution.errors import FieldError, InvalidInputError
from distribution.events.ingest import write_follow_up
from distribution.events.redemptions import code_redeemed
from distribution.models import Customer, Distribution, Event, FollowUp
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.storage.pages import IdPage, newest_first

__all__ = [
    "FOLLOW_UP_BATCH",
    "FOLLOW_UP_STATUSES",
    "FollowUpOutcome",
    "list_follow_ups",
    "recheck_failure",
    "run_due_follow_ups",
]

#: Where a follow-up is: waiting for its time, or settled one way or the other.
FOLLOW_UP_STATUSES = ("waiting", "sent", "skipped")
#: How many due follow-ups one round settles at most.
FOLLOW_UP_BATCH = 200

log = logging.getLogger("distribution.follow_ups")


@dataclass(frozen=True)
class FollowUpOutcome:
    """What became of one due follow-up: its status, why (if skipped), the deliveries made."""

    id: str
    status: str
    reason: str | None
    delivery_ids: tuple[str, ...]


def list_follow_ups(
    session: Session,
    project_id: str,
    distribution_id: str,
    *,
    limit: int,
    starting_after: str | None = None,
    status: str | None = None,
) -> IdPage[FollowUp]:
    """A page of a distribution's follow-ups, newest first."""
    if status is not None and status not in FOLLOW_UP_STATUSES:
        raise InvalidInputError(
            [FieldError("status", "must be one of " + ", ".join(FOLLOW_UP_STATUSES))]
        )
    query = select(FollowUp).where(
        FollowUp.project_id == project_id, FollowUp.distribution_id == distribution_id
    )
    if status is not None:
        query = query.where(FollowUp.status == status)
    return newest_first(session, query, FollowUp.id, limit=limit, starting_after=starting_after)


def recheck_failure(
    session: Session, distribution: Distribution | None, event: Event, customer: Customer | None
) -> str | None:
    """Why a follow-up must not send now, or None when its recheck passes."""
    if distribution is None:
        return "the distribution was deleted"
    if distribution.status != "active":
        return "the distribution is paused"
    if customer is not None and customer.erased_at is not None:
        return "the customer was erased"
    recheck = distribution.recheck or {}
    if recheck.get("code") == "not_redeemed":
        code = ((event.payload or {}).get("code") or {}).get("code")
        if not isinstance(code, str) or not code:
            return "the event has no code to check"
        if code_redeemed(session, event.project_id, code, since=event.received_at):
            return f"the code {code} was redeemed"
    conditions = recheck.get("conditions")
    if conditions is not None and (
        customer is None or not matches(parse_filter(conditions), customer)
    ):
        return "the customer no longer meets the recheck conditions"
    return None


def run_due_follow_ups(
    database: Database, links: LinkSettings, now: datetime, *, limit: int = FOLLOW_UP_BATCH
) -> list[FollowUpOutcome]:
    """Settle up to ``limit`` follow-ups due at ``now`` (naive UTC), each in its own transaction."""
    with database.reader() as session:
        due = session.exec(
            select(FollowUp.id)
            .where(FollowUp.status == "waiting", col(FollowUp.due_at) <= now)
            .order_by(col(FollowUp.due_at))
            .limit(limit)
        ).all()
    outcomes = []
    for follow_up_id in due:
        outcome = _settle(database, links, follow_up_id, now)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _settle(
    database: Database, links: LinkSettings, follow_up_id: str, now: datetime
) -> FollowUpOutcome | None:
    with database.session() as session:
        taken = session.connection().execute(
            update(FollowUp)
            .where(col(FollowUp.id) == follow_up_id, col(FollowUp.status) == "waiting")
            .values(status="sent", done_at=now)
        )
        if taken.rowcount != 1:
            return None  # another scheduler settled it
        follow_up = session.get(FollowUp, follow_up_id)
        event = session.get(Event, follow_up.event_id) if follow_up else None
        if follow_up is None or event is None:
            return None
        distribution = session.get(Distribution, follow_up.distribution_id)
        customer = session.get(Customer, follow_up.customer_id) if follow_up.customer_id else None
        reason = recheck_failure(session, distribution, event, customer)
        delivery_ids: tuple[str, ...] = ()
        if reason is None:
            project = cached_project(session, follow_up.project_id)
            summaries = write_follow_up(session, project, follow_up, event, links)
            delivery_ids = tuple(s.id for s in summaries if s.status == "queued")
            if not summaries:
                reason = "the recipient no longer fits the distribution's filters"
        status = "sent" if reason is None else "skipped"
        session.connection().execute(
            update(FollowUp)
            .where(col(FollowUp.id) == follow_up_id)
            .values(status=status, reason=reason)
        )
    if reason is not None:
        log.info("follow-up skipped", extra={"follow_up_id": follow_up_id, "reason": reason})
    return FollowUpOutcome(follow_up_id, status, reason, delivery_ids)
