"""Figures of a scope of messages (campaign, template, version): counts and conversions."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["RevenueOut", "ScopeStatsOut", "TemplateStatsOut", "scope_stats_out"]


class RevenueOut(msgspec.Struct):
    """The redeemed orders' amounts in one currency, in minor units (cents)."""

    currency: str | None
    amount: int


class ScopeStatsOut(msgspec.Struct):
    """Counts by status, messages handed to a provider (``sent``), delivered, failed (failed or
    bounced), messages credited with a redemption (``converted``), redemptions credited to
    them (``conversions``, each once) and their revenue."""

    total: dict[str, int]
    messages: int
    sent: int
    delivered: int
    failed: int
    converted: int
    conversions: int
    revenue: list[RevenueOut]


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
