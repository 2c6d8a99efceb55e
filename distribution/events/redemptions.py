"""Whether a code was redeemed: the one reader of a code's redemption state.

Today a redemption is known only as an event (``redemption.succeeded``, ours or Voucherify's
webhook) carrying the code. When codes keep their redemptions in a table of their own, this
function reads that table instead; its callers do not change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, select
from sqlmodel import Session

from distribution.models import Event

__all__ = ["REDEMPTION_EVENTS", "code_redeemed"]

#: The event types that say a code was redeemed.
REDEMPTION_EVENTS = ("redemption.succeeded",)
_EVENTS: Table = Event.__table__  # type: ignore[attr-defined]


def code_redeemed(session: Session, project_id: str, code: str, *, since: datetime) -> bool:
    """Whether ``code`` of the project was redeemed at or after ``since`` (naive UTC)."""
    found = session.connection().execute(
        select(_EVENTS.c.id)
        .where(
            _EVENTS.c.project_id == project_id,
            _EVENTS.c.type.in_(REDEMPTION_EVENTS),
            _EVENTS.c.received_at >= since,
            _EVENTS.c.payload[("code", "code")].as_string() == code,
        )
        .limit(1)
    )
    return found.first() is not None
