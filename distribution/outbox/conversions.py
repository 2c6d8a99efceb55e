"""Message figures of one scope (a distribution, a campaign, a template, a version or variant).

Counts by status and conversions: how many messages were credited with a redemption, how many
redemptions were, and their revenue by currency. A redemption counts **once per scope** however
many of the scope's messages it was credited to (an email and an SMS of the same event), so a
scope's revenue is never counted twice; each message still shows its own ``conversion_amount``.

Counts by status and per day come from the pre-aggregated ``delivery_count`` (kept by the
database, ``models.delivery_counts``), never from a scan of the scope's messages; conversions,
revenue and time to conversion read the few converted messages (a partial index holds them).
``unsubscribed`` counts the unsubscribes made through a link in one of the scope's messages.

Test sends never count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlmodel
from sqlalchemy import ColumnElement, Select, Subquery, Table, func, select, union_all
from sqlmodel import Session

from distribution.models import (
    PENDING_STATUSES,
    Delivery,
    DeliveryCount,
    DeliveryCountDelta,
    DeliveryStatus,
    Redemption,
    RedemptionAttribution,
    Suppression,
    TemplateVersion,
)
from distribution.storage.delivery_counts import fold_when_many

__all__ = [
    "DAY_FIELDS",
    "Scope",
    "conversion_figures",
    "counts_by_day",
    "scope_days",
    "scope_stats",
    "template_stats",
]

_DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
_REDEMPTIONS: Table = Redemption.__table__  # type: ignore[attr-defined]
_ATTRIBUTIONS: Table = RedemptionAttribution.__table__  # type: ignore[attr-defined]
_VERSIONS: Table = TemplateVersion.__table__  # type: ignore[attr-defined]
_COUNTS: Table = DeliveryCount.__table__  # type: ignore[attr-defined]
_DELTAS: Table = DeliveryCountDelta.__table__  # type: ignore[attr-defined]
_SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[attr-defined]
#: A read that finds this many deltas waiting (PostgreSQL) folds them before it adds them up.
FOLD_ABOVE = 20_000
_FAILED = (DeliveryStatus.FAILED.value, DeliveryStatus.BOUNCED.value)
#: ``queued`` in the figures: waiting or in flight (queued, paused, sending), not sent yet.
_QUEUED = tuple(sorted(status.value for status in PENDING_STATUSES))


@dataclass(frozen=True)
class Scope:
    """Which messages: a delivery column equal to a value (``variant_id`` through versions)."""

    column: str  # distribution_id | campaign_id | template_id | template_version_id | variant_id
    value: str

    def condition(self, table: Table = _DELIVERIES) -> ColumnElement[bool]:
        """The scope on ``table``: deliveries, or the counts and their deltas."""
        if self.column == "variant_id":
            versions = select(_VERSIONS.c.id).where(_VERSIONS.c.variant_id == self.value)
            return table.c.template_version_id.in_(versions)
        return table.c[self.column] == self.value


def _counted(session: Session, project_id: str, scope: Scope) -> Subquery:
    """The scope's counts rows with the deltas not folded yet: read in one statement (one
    snapshot), so a fold that commits meanwhile is seen whole or not at all."""
    fold_when_many(session.connection(), FOLD_ABOVE)
    return union_all(
        *(
            select(
                table.c.template_version_id,
                table.c.channel,
                table.c.day,
                table.c.status,
                table.c.messages,
                table.c.sent,
                table.c.converted,
            ).where(table.c.project_id == project_id, scope.condition(table))
            for table in (_COUNTS, _DELTAS)
        )
    ).subquery("counted")


def _messages_of(project_id: str, scope: Scope, since: datetime | None) -> list[Any]:
    """The conditions on deliveries of the scope's messages (test sends never count)."""
    deliveries = _DELIVERIES.c
    where = [deliveries.project_id == project_id, deliveries.test.is_(False), scope.condition()]
    if since is not None:
        where.append(deliveries.created_at >= since)
    return where


def _credited(where: list[Any]) -> Select[Any]:
    """The redemptions credited to the messages ``where`` selects."""
    deliveries = _DELIVERIES.c
    return (
        select(_ATTRIBUTIONS.c.redemption_id)
        .join(_DELIVERIES, deliveries.id == _ATTRIBUTIONS.c.delivery_id)
        # A credited message is a converted one: said, so the plan starts from the few
        # converted rows (a partial index) instead of the scope's every message.
        .where(*where, deliveries.converted_at.is_not(None))
    )


def _unsubscribes(project_id: str, scope: Scope, since: datetime | None) -> Select[Any]:
    """The unsubscribes made through a link in one of the scope's messages (their days)."""
    suppressions = _SUPPRESSIONS.c
    return (
        select(_day(suppressions.created_at).label("day"))
        .join(_DELIVERIES, _DELIVERIES.c.id == suppressions.delivery_id)
        .where(
            suppressions.project_id == project_id,
            suppressions.delivery_id.is_not(None),
            *_messages_of(project_id, scope, since),
        )
    )


def conversion_figures(
    session: Session, project_id: str, scope: Scope, *, since: datetime | None = None
) -> dict[str, Any]:
    """``converted`` messages, ``conversions`` (redemptions), ``revenue`` by currency and
    ``unsubscribed`` (through the messages' links).

    With ``since``, only messages created at or after it count.
    """
    deliveries = _DELIVERIES.c
    where = _messages_of(project_id, scope, since)
    connection = session.connection()
    if since is None:
        counted = _counted(session, project_id, scope).c
        converted = connection.execute(
            select(func.coalesce(func.sum(counted.converted), 0))
        ).scalar_one()
    else:  # a moment, finer than the counts' days: counted from the few converted rows
        converted = connection.execute(
            select(func.count()).where(*where, deliveries.converted_at.is_not(None))
        ).scalar_one()
    redemptions = _REDEMPTIONS.c
    rows = connection.execute(
        select(redemptions.currency, func.count(), func.coalesce(func.sum(redemptions.amount), 0))
        .where(redemptions.project_id == project_id, redemptions.id.in_(_credited(where)))
        .group_by(redemptions.currency)
        .order_by(redemptions.currency)
    ).all()
    unsubscribed = connection.execute(
        select(func.count()).select_from(_unsubscribes(project_id, scope, since).subquery())
    ).scalar_one()
    return {
        "converted": int(converted),
        "unsubscribed": int(unsubscribed),
        "conversions": sum(int(count) for _currency, count, _amount in rows),
        "revenue": [
            {"currency": currency, "amount": int(amount)}
            for currency, _count, amount in rows
            # Redemptions without an order have no revenue to show.
            if int(amount) or currency is not None
        ],
    }


def scope_stats(
    session: Session, project_id: str, scope: Scope, *, since: datetime | None = None
) -> dict[str, Any]:
    """Counts by status, ``queued`` (not sent yet), ``sent`` (handed to a provider),
    ``delivered``, ``failed`` (failed or bounced), ``bounced``, ``unsubscribed`` and the
    conversion figures, over every message of the scope (with ``since``, the messages created
    at or after it)."""
    total: Counter[str] = Counter()
    sent = 0
    for status, count, with_sent_at in _by_status(session, project_id, scope, since):
        total[str(status)] += int(count)
        sent += int(with_sent_at)
    total = +total  # statuses whose messages all moved on since are left out
    return {
        "total": dict(total),
        "time_to_conversion": _time_to_conversion(session, _messages_of(project_id, scope, since)),
        "messages": sum(total.values()),
        "queued": sum(total[s] for s in _QUEUED),
        "sent": sent,
        "delivered": total[DeliveryStatus.DELIVERED.value],
        "failed": sum(total[s] for s in _FAILED),
        "bounced": total[DeliveryStatus.BOUNCED.value],
        **conversion_figures(session, project_id, scope, since=since),
    }


def counts_by_day(session: Session, project_id: str, scope: Scope) -> list[Any]:
    """(day, channel, status, messages) of the scope, from the counts, oldest day first."""
    counted = _counted(session, project_id, scope).c
    keys = (counted.day, counted.channel, counted.status)
    return list(
        session.connection().execute(
            select(*keys, func.sum(counted.messages))
            .group_by(*keys)
            .having(func.sum(counted.messages) != 0)
            .order_by(counted.day)
        )
    )


def _by_status(
    session: Session, project_id: str, scope: Scope, since: datetime | None
) -> list[Any]:
    """(status, messages, sent) of the scope. ``since`` is a moment (an A/B test's start),
    finer than the counts' days: those few messages are counted from their rows."""
    if since is None:
        counted = _counted(session, project_id, scope).c
        statement = select(counted.status, func.sum(counted.messages), func.sum(counted.sent))
        return list(session.connection().execute(statement.group_by(counted.status)))
    deliveries = _DELIVERIES.c
    return list(
        session.connection().execute(
            select(deliveries.status, func.count(), func.count(deliveries.sent_at))
            .where(*_messages_of(project_id, scope, since))
            .group_by(deliveries.status)
        )
    )


def _time_to_conversion(session: Session, where: list[Any]) -> dict[str, float] | None:
    """Seconds from sending to the first redemption of converted messages: median and 90th
    percentile (None without any). Read in Python: converted messages are few, and the
    subtraction of times differs between the two databases."""
    deliveries = _DELIVERIES.c
    spans: list[float] = sorted(
        (converted - sent).total_seconds()
        for sent, converted in session.connection().execute(
            select(deliveries.sent_at, deliveries.converted_at).where(
                *where, deliveries.converted_at.is_not(None), deliveries.sent_at.is_not(None)
            )
        )
    )
    if not spans:
        return None

    def at(share: float) -> float:
        return spans[min(len(spans) - 1, int(share * len(spans)))]

    return {"median_seconds": at(0.5), "p90_seconds": at(0.9)}


def template_stats(session: Session, project_id: str, template_id: str) -> dict[str, Any]:
    """A template's figures in total, per variant (an arm of a test) and per version.

    Variants and versions without a message are left out. The caller checks that the template
    is the project's.
    """
    counted = _counted(session, project_id, Scope("template_id", template_id)).c
    used = set(
        session.connection()
        .execute(
            select(counted.template_version_id)
            .group_by(counted.template_version_id)
            .having(func.sum(counted.messages) != 0)
        )
        .scalars()
    )
    versions = [
        v
        for v in session.exec(
            sqlmodel.select(TemplateVersion)
            .where(
                TemplateVersion.project_id == project_id, TemplateVersion.template_id == template_id
            )
            .order_by(sqlmodel.col(TemplateVersion.number))
        )
        if v.id in used
    ]
    variants: dict[str, list[TemplateVersion]] = {}
    for version in versions:
        variants.setdefault(version.variant_id, []).append(version)
    return {
        "total": scope_stats(session, project_id, Scope("template_id", template_id)),
        "variants": [
            {
                "variant_id": variant_id,
                "stats": scope_stats(session, project_id, Scope("variant_id", variant_id)),
                "versions": [
                    {
                        "version_id": v.id,
                        "number": v.number,
                        "stats": scope_stats(
                            session, project_id, Scope("template_version_id", v.id)
                        ),
                    }
                    for v in of_variant
                ],
            }
            for variant_id, of_variant in variants.items()
        ],
    }


#: The figures of a day in ``scope_days``, in the order the CSV export writes them.
DAY_FIELDS = (
    "messages",
    "queued",
    "sent",
    "delivered",
    "failed",
    "bounced",
    "converted",
    "conversions",
    "unsubscribed",
)


def _day(column: Any) -> Any:
    # The UTC calendar day as text (YYYY-MM-DD) on both databases.
    return func.substr(func.cast(column, sqlmodel.String()), 1, 10)


def scope_days(session: Session, project_id: str, scope: Scope) -> list[dict[str, Any]]:
    """The scope's figures per UTC day, oldest first, days without anything left out.

    Messages count on the day they were created, with what became of them since (``queued``,
    ``sent``, ``delivered``, ``failed``, ``bounced``, ``converted``: a cohort, so a day's funnel
    reads across);
    ``conversions`` and ``revenue`` count on the day the redemption came, each once, and
    ``unsubscribed`` on the day of the unsubscribe.
    """
    where = _messages_of(project_id, scope, None)
    connection = session.connection()
    counted = _counted(session, project_id, scope).c
    messages = func.sum(counted.messages)
    rows = connection.execute(
        select(
            counted.day,
            messages,
            func.sum(counted.messages).filter(counted.status.in_(_QUEUED)),
            func.sum(counted.sent),
            func.sum(counted.messages).filter(counted.status == DeliveryStatus.DELIVERED.value),
            func.sum(counted.messages).filter(counted.status.in_(_FAILED)),
            func.sum(counted.messages).filter(counted.status == DeliveryStatus.BOUNCED.value),
            func.sum(counted.converted),
        )
        .group_by(counted.day)
        .having(messages != 0)
    ).all()
    days: dict[str, dict[str, Any]] = {}

    def of(name: str) -> dict[str, Any]:
        return days.setdefault(name, {"day": name, **dict.fromkeys(DAY_FIELDS, 0), "revenue": []})

    for day, count, queued, sent, delivered, failed, bounced, converted in rows:
        of(day.isoformat()).update(
            messages=int(count),
            queued=int(queued or 0),
            sent=int(sent),
            delivered=int(delivered or 0),
            failed=int(failed or 0),
            bounced=int(bounced or 0),
            converted=int(converted),
        )
    unsubscribes = _unsubscribes(project_id, scope, None).subquery()
    for name, count in connection.execute(
        select(unsubscribes.c.day, func.count()).group_by(unsubscribes.c.day)
    ):
        of(str(name))["unsubscribed"] = int(count)
    redemptions = _REDEMPTIONS.c
    redeemed_day = _day(redemptions.redeemed_at)
    for name, currency, count, amount in connection.execute(
        select(
            redeemed_day,
            redemptions.currency,
            func.count(),
            func.coalesce(func.sum(redemptions.amount), 0),
        )
        .where(redemptions.project_id == project_id, redemptions.id.in_(_credited(where)))
        .group_by(redeemed_day, redemptions.currency)
        .order_by(redemptions.currency)
    ).all():
        entry = of(str(name))
        entry["conversions"] += int(count)
        if int(amount) or currency is not None:
            entry["revenue"].append({"currency": currency, "amount": int(amount)})
    return [days[name] for name in sorted(days)]
