"""Figures of a scope of messages (campaign, template, version): counts and conversions."""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec
from litestar import Response

from distribution.outbox.conversions import DAY_FIELDS

__all__ = [
    "DayOut",
    "RevenueOut",
    "ScopeStatsOut",
    "TemplateStatsOut",
    "days_csv",
    "days_out",
    "days_response",
    "scope_stats_out",
]


class RevenueOut(msgspec.Struct):
    """The redeemed orders' amounts in one currency, in minor units (cents)."""

    currency: str | None
    amount: int


class TimeToConversionOut(msgspec.Struct):
    """Seconds from sending a message to the first redemption of its code."""

    median_seconds: float
    p90_seconds: float


class FiguresOut(msgspec.Struct):
    """Messages, those not sent yet (``queued``: waiting, paused or in flight), those handed to
    a provider (``sent``), delivered, failed (failed or bounced), bounced, credited with a
    redemption (``converted``), the redemptions credited (``conversions``, each once), their
    revenue and the unsubscribes through the messages' links: a scope's figures, in total or of
    a day."""

    messages: int
    queued: int
    sent: int
    delivered: int
    failed: int
    bounced: int
    converted: int
    conversions: int
    revenue: list[RevenueOut]
    #: Unsubscribes through a link in one of the messages (on the day of the unsubscribe).
    unsubscribed: int


class ScopeStatsOut(FiguresOut):
    """The figures in total, with the counts by status and ``time_to_conversion``: seconds
    from sending to the first redemption of converted messages (median, 90th percentile)."""

    total: dict[str, int]
    time_to_conversion: TimeToConversionOut | None


def scope_stats_out(stats: dict[str, Any]) -> ScopeStatsOut:
    """The API view of ``distribution.outbox.conversions.scope_stats``."""
    return msgspec.convert(stats, ScopeStatsOut)


class VersionStatsOut(msgspec.Struct):
    version_id: str
    number: int
    stats: ScopeStatsOut


class VariantStatsOut(msgspec.Struct):
    """One variant of the template (an arm of a test) with its versions' figures."""

    variant_id: str
    stats: ScopeStatsOut
    versions: list[VersionStatsOut]


class TemplateStatsOut(msgspec.Struct):
    """A template's figures in total, per variant and per version (those with messages)."""

    total: ScopeStatsOut
    variants: list[VariantStatsOut]


class DayOut(FiguresOut):
    """One UTC day of a scope: the messages created that day and what became of them, and the
    redemptions credited that day with their revenue (``outbox.conversions.scope_days``)."""

    day: str


def days_out(days: list[dict[str, Any]]) -> list[DayOut]:
    """The API view of ``scope_days``."""
    return msgspec.convert(days, list[DayOut])


def days_response(days: list[dict[str, Any]], format: str, filename: str) -> Response[Any]:
    """The daily series as JSON, or as a CSV download."""
    if format == "csv":
        return Response(
            days_csv(days),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return Response(days_out(days))


def days_csv(days: list[dict[str, Any]]) -> str:
    """``scope_days`` as CSV: a row per day and currency of revenue (one row without any)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", *DAY_FIELDS, "revenue_currency", "revenue_amount"])
    for day in days:
        figures = [day["day"], *(day[name] for name in DAY_FIELDS)]
        for revenue in day["revenue"] or [{"currency": "", "amount": 0}]:
            writer.writerow([*figures, revenue["currency"] or "", revenue["amount"]])
    return out.getvalue()
