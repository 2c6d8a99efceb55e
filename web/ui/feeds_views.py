"""What the deliveries, distributions and bulk-send pages show, as plain dicts.

The pages render these on the server and the UI API sends the same dicts to ``feeds.js``, so a
value looks the same on first load and after a live update.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from distribution.bulk import job_outcome, job_progress
from distribution.bulk.jobs import FINAL
from distribution.errors import FieldError, InvalidInputError
from distribution.models import (
    BulkJob,
    Campaign,
    Delivery,
    DeliveryStatusChange,
    Distribution,
    utcnow,
)
from distribution.outbox import CHANNELS
from distribution.outbox.messages import DELIVERY_STATUSES, MessageLabels, distribution_stats
from templates import format_money

__all__ = [
    "CHANNELS",
    "WINDOWS",
    "bulk_job_names",
    "campaign_names",
    "conversion_text",
    "delivery_json",
    "distribution_counts",
    "duration_text",
    "history_json",
    "iso",
    "job_json",
    "parse_window",
    "revenue_text",
]

#: The windows the distribution counts can be looked at over.
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
#: A feed row shows the start of the error; the detail shows all of it.
ERROR_EXCERPT = 300
#: Delivery statuses that are still to be settled (the rest are the outcome).
_PENDING = ("queued", "paused", "sending")


def iso(value: datetime | None) -> str | None:
    """A stored naive-UTC time as ISO 8601 with ``Z``."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def campaign_names(session: Session, project_id: str, ids: set[str | None]) -> dict[str, str]:
    """The names of these campaigns of the project, so pages show names rather than ids."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.exec(
        select(Campaign.id, Campaign.name).where(
            Campaign.project_id == project_id, col(Campaign.id).in_(wanted)
        )
    )
    return {str(i): str(n) for i, n in rows}


def parse_window(window: str) -> timedelta:
    """The window named ``24h``, ``7d`` or ``30d``; anything else names the field."""
    if window not in WINDOWS:
        raise InvalidInputError([FieldError("window", f"must be one of {', '.join(WINDOWS)}")])
    return WINDOWS[window]


def bulk_job_names(session: Session, project_id: str, job_ids: Collection[str]) -> dict[str, str]:
    """The name each of these bulk sends is shown by: its campaign's (one query).

    A bulk send has no name of its own; people know it by the campaign whose codes it sends.
    Sends without a campaign are left out (the pages fall back to a short id).
    """
    if not job_ids:
        return {}
    rows = session.exec(
        select(BulkJob.id, Campaign.name)
        .join(Campaign, col(Campaign.id) == col(BulkJob.campaign_id))
        .where(BulkJob.project_id == project_id, col(BulkJob.id).in_(list(job_ids)))
    )
    return {str(job_id): str(name) for job_id, name in rows}


def delivery_json(
    delivery: Delivery, labels: MessageLabels, bulk_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One feed row, with the names of where it came from (distribution, bulk send, template).

    The recipient is shown whole, as ``GET /v1/messages`` shows it."""
    error = delivery.last_error
    if error and len(error) > ERROR_EXCERPT:
        error = error[:ERROR_EXCERPT] + "…"
    return {
        "id": delivery.id,
        "status": delivery.status,
        "channel": delivery.channel,
        "provider": delivery.provider,
        "recipient": delivery.recipient,
        "distribution_id": delivery.distribution_id,
        "distribution": labels.distributions.get(delivery.distribution_id or ""),
        "bulk_job_id": delivery.bulk_job_id,
        "bulk_job": (bulk_names or {}).get(delivery.bulk_job_id or ""),
        "template_id": delivery.template_id,
        "template": labels.templates.get(delivery.template_id or ""),
        "test": delivery.test,
        "converted_at": iso(delivery.converted_at),
        "conversion": conversion_text(delivery.conversion_amount, delivery.conversion_currency),
        "attempts": delivery.attempts,
        "last_error": error,
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
    }


def conversion_text(amount: int | None, currency: str | None) -> str | None:
    """Redeemed revenue as people read it ("€49.90"); a bare number without a currency."""
    if amount is None:
        return None
    if currency is None:
        return f"{amount / 100:.2f}"
    return format_money(amount, currency)


def revenue_text(revenue: list[dict[str, Any]]) -> str:
    """Revenue by currency as people read it ("€49.90, $12.00"), or "—"."""
    return ", ".join(conversion_text(r["amount"], r["currency"]) or "" for r in revenue) or "—"


def history_json(changes: list[DeliveryStatusChange]) -> list[dict[str, Any]]:
    """A delivery's status history, oldest first."""
    return [{"status": c.status, "at": iso(c.at), "detail": c.detail} for c in changes]


def distribution_counts(
    session: Session, distribution: Distribution, window: str
) -> dict[str, Any]:
    """A distribution's counts by status (all statuses, zeros included) over the window."""
    since = utcnow() - parse_window(window)
    stats = distribution_stats(session, distribution.project_id, distribution.id, since=since)
    total: dict[str, int] = stats["total"]
    return {
        "id": distribution.id,
        "window": window,
        "since": iso(since),
        "total": {status: int(total.get(status, 0)) for status in DELIVERY_STATUSES},
        "messages": sum(total.values()),
        "converted": stats["converted"],
        "conversions": stats["conversions"],
        "revenue": revenue_text(stats["revenue"]),
        "by_channel": stats["by_channel"],
        "by_day": stats["by_day"],
    }


def duration_text(seconds: float | None) -> str:
    """A duration as a person reads it: "45 s", "3 min 20 s", "2 h 5 min"; "—" when unknown."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _percent(part: int, whole: int) -> int:
    return min(100, part * 100 // whole) if whole > 0 else 0


def _send_at(job: BulkJob) -> datetime | None:
    stored = job.options.get("send_at")
    return datetime.fromisoformat(str(stored)) if stored else None


def job_json(session: Session, job: BulkJob) -> dict[str, Any]:
    """A bulk send with its progress, what its buttons may do, and its preflight report."""
    progress = job_progress(session, job)
    messages = {status: int(progress.messages.get(status, 0)) for status in DELIVERY_STATUSES}
    expected = max(progress.audience * max(1, len(job.channels)), sum(messages.values()))
    settled = sum(n for status, n in messages.items() if status not in _PENDING)
    sent = messages["sent"] + messages["delivered"]
    send_at = _send_at(job)
    waiting = job.status == "scheduled" or (send_at is not None and send_at > utcnow())
    active = job.status not in FINAL
    return {
        "id": job.id,
        "name": bulk_job_names(session, job.project_id, [job.id]).get(job.id),
        "status": job.status,
        "outcome": job_outcome(job.status, messages),
        "campaign_id": job.campaign_id,
        "channels": [c.get("channel") for c in job.channels],
        "audience": progress.audience,
        "prepared": progress.prepared,
        "sent": sent,
        "failed": messages["failed"] + messages["bounced"],
        "suppressed": messages["suppressed"],
        "cancelled": messages["cancelled"],
        "waiting": messages["queued"] + messages["paused"] + messages["sending"],
        "messages": messages,
        "expected_messages": expected,
        "prepared_percent": 100
        if job.status == "completed"
        else _percent(progress.prepared, progress.audience),
        "done_percent": 100 if job.status == "completed" else _percent(settled, expected),
        "rate_per_second": round(progress.rate_per_second, 1)
        if progress.rate_per_second is not None
        else None,
        "eta_seconds": round(progress.eta_seconds) if progress.eta_seconds is not None else None,
        "rate_text": "—"
        if progress.rate_per_second is None
        else f"{progress.rate_per_second:,.1f} messages/s",
        "eta_text": duration_text(progress.eta_seconds),
        "send_at": iso(send_at),
        "scheduled_at": iso(job.scheduled_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "created_at": iso(job.created_at),
        "created_by": job.created_by,
        "error": job.error,
        "codes_released": job.counts.get("codes_released"),
        "preflight": job.preflight or None,
        "actions": {
            "pause": job.status in ("scheduled", "preparing", "sending"),
            "resume": job.status == "paused",
            "cancel": active,
            "send_now": active and waiting,
        },
    }
