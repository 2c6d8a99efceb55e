"""Distributions: named rules that turn an event into messages.

A distribution has a ``trigger`` (an event type), ``filters`` (campaign, segment and a condition
over the recipient in the segment filter language), the ``recipient`` (the event's customer or its
referrer) and ``channels``: each a template sent through a provider. Paused distributions match
nothing. Every change records who made it and when. A date trigger (``customer.date`` with a
``schedule``) and a follow-up (``delay``, ``recheck``) are described in ``docs/triggers.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from distribution.accounts.project_cache import CACHE, changed, detached
from distribution.customers.segment_filter import Filter, matches, parse_filter
from distribution.errors import FieldError, InvalidInputError
from distribution.events.schedule_rules import (
    delay_errors,
    delay_seconds,
    recheck_errors,
    schedule_errors,
)
from distribution.models import Customer, Distribution, utcnow
from distribution.outbox import ChannelSpec, channel_errors, role_error
from distribution.provider_configs.store import channel_provider
from distribution.storage.db import flush_or_conflict
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row, project_rows

__all__ = [
    "ActiveRule",
    "DistributionSpec",
    "create_distribution",
    "get_distribution",
    "list_distributions",
    "matching_distributions",
    "recipient_fits",
    "rule_of",
    "set_distribution_status",
    "update_distribution",
]

_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class ActiveRule:
    """An active distribution as events use it: a detached copy, its parsed conditions and
    channels."""

    distribution: Distribution
    conditions: Filter | None
    channels: tuple[ChannelSpec, ...]


@dataclass(frozen=True)
class DistributionSpec:
    """The fields a client sets on a distribution."""

    name: str
    trigger: str
    channels: Sequence[ChannelSpec]
    filters: dict[str, Any]
    recipient: str = "customer"
    frequency_cap_hours: int | None = None
    quiet_hours: dict[str, Any] | None = None
    #: A date trigger's date, offset and local time (``trigger`` is ``customer.date``).
    schedule: dict[str, Any] | None = None
    #: Wait this long after the trigger (seconds, or an ISO 8601 duration such as ``P2D``).
    delay: int | str | None = None
    #: Checked when the wait is over: ``{"code": "not_redeemed", "conditions": {...}}``.
    recheck: dict[str, Any] | None = None


def _validate(spec: DistributionSpec) -> None:
    errors: list[FieldError] = []
    if not spec.name.strip() or len(spec.name) > 200:
        errors.append(FieldError("name", "must be 1-200 characters"))
    if not _EVENT_TYPE.match(spec.trigger) or len(spec.trigger) > 100:
        errors.append(FieldError("trigger", "must be an event type such as redemption.succeeded"))
    if spec.recipient not in ("customer", "referrer"):
        errors.append(FieldError("recipient", "must be customer or referrer"))
    errors += channel_errors(spec.channels)
    unknown_filters = set(spec.filters) - {"campaign_id", "segment_id", "conditions"}
    for key in sorted(unknown_filters):
        errors.append(FieldError(f"filters.{key}", "is not a known filter"))
    for key in ("campaign_id", "segment_id"):
        value = spec.filters.get(key)
        if value is not None and not isinstance(value, str):
            errors.append(FieldError(f"filters.{key}", "must be a string"))
    if spec.filters.get("conditions") is not None:
        try:
            parse_filter(spec.filters["conditions"])
        except InvalidInputError as error:
            errors += [
                FieldError(e.field.replace("filter", "filters.conditions", 1), e.reason)
                for e in error.errors
            ]
    if spec.frequency_cap_hours is not None and not 1 <= spec.frequency_cap_hours <= 24 * 365:
        errors.append(FieldError("frequency_cap_hours", "must be between 1 and 8760"))
    if spec.quiet_hours is not None:
        for key in ("start", "end"):
            value = spec.quiet_hours.get(key)
            if not isinstance(value, str) or not _HHMM.match(value):
                errors.append(FieldError(f"quiet_hours.{key}", "must be a time such as 21:00"))
    errors += schedule_errors(spec.trigger, spec.schedule)
    errors += delay_errors(spec.delay)
    errors += recheck_errors(spec.recheck, spec.delay)
    if errors:
        raise InvalidInputError(errors)


def _check_providers(session: Session, project_id: str, spec: DistributionSpec) -> None:
    """Refuse a channel whose provider cannot serve it (a sync for email, a sender for a
    profile write). A provider not created yet is allowed: its deliveries fail until it is."""
    errors = []
    for index, channel in enumerate(spec.channels):
        facts = channel_provider(session, project_id, channel.provider)
        wrong = role_error(index, channel, facts.role) if facts is not None else None
        if wrong is not None:
            errors.append(wrong)
    if errors:
        raise InvalidInputError(errors)


def _flush(session: Session, name: str) -> None:
    flush_or_conflict(session, f"a distribution named {name!r} already exists")


def create_distribution(
    session: Session, project_id: str, spec: DistributionSpec, *, actor: str
) -> Distribution:
    """Create an active distribution."""
    _validate(spec)
    _check_providers(session, project_id, spec)
    distribution = Distribution(
        id=new_id("dist"),
        project_id=project_id,
        name=spec.name.strip(),
        trigger=spec.trigger,
        filters=spec.filters,
        recipient=spec.recipient,
        channels=[channel.to_json() for channel in spec.channels],
        frequency_cap_hours=spec.frequency_cap_hours,
        quiet_hours=spec.quiet_hours,
        schedule=spec.schedule,
        delay_seconds=delay_seconds(spec.delay),
        recheck=spec.recheck,
        created_by=actor,
        updated_by=actor,
    )
    session.add(distribution)
    _flush(session, distribution.name)
    changed(session, project_id)
    return distribution


def get_distribution(session: Session, project_id: str, distribution_id: str) -> Distribution:
    """A distribution of the project."""
    return project_row(session, Distribution, project_id, distribution_id, "distribution")


def list_distributions(session: Session, project_id: str) -> list[Distribution]:
    """Every distribution of the project, oldest first."""
    return project_rows(session, Distribution, project_id)


def update_distribution(
    session: Session, project_id: str, distribution_id: str, spec: DistributionSpec, *, actor: str
) -> Distribution:
    """Replace a distribution's rule."""
    _validate(spec)
    _check_providers(session, project_id, spec)
    distribution = get_distribution(session, project_id, distribution_id)
    distribution.name = spec.name.strip()
    distribution.trigger = spec.trigger
    distribution.filters = spec.filters
    distribution.recipient = spec.recipient
    distribution.channels = [channel.to_json() for channel in spec.channels]
    distribution.frequency_cap_hours = spec.frequency_cap_hours
    distribution.quiet_hours = spec.quiet_hours
    distribution.schedule = spec.schedule
    distribution.delay_seconds = delay_seconds(spec.delay)
    distribution.recheck = spec.recheck
    distribution.updated_by = actor
    distribution.updated_at = utcnow()
    session.add(distribution)
    _flush(session, distribution.name)
    changed(session, project_id)
    return distribution


def set_distribution_status(
    session: Session, project_id: str, distribution_id: str, status: str, *, actor: str
) -> Distribution:
    """Pause or resume."""
    distribution = get_distribution(session, project_id, distribution_id)
    distribution.status = status
    distribution.updated_by = actor
    distribution.updated_at = utcnow()
    session.add(distribution)
    changed(session, project_id)
    return distribution


def _load_active(session: Session, project_id: str) -> dict[str, tuple[ActiveRule, ...]]:
    rows = session.exec(
        select(Distribution)
        .where(Distribution.project_id == project_id, Distribution.status == "active")
        .order_by(col(Distribution.id))
    )
    by_trigger: dict[str, list[ActiveRule]] = {}
    for row in rows:
        by_trigger.setdefault(row.trigger, []).append(rule_of(detached(row)))
    return {trigger: tuple(rules) for trigger, rules in by_trigger.items()}


def rule_of(distribution: Distribution) -> ActiveRule:
    """A distribution as events use it: its conditions and channels parsed."""
    conditions = distribution.filters.get("conditions")
    return ActiveRule(
        distribution,
        parse_filter(conditions) if conditions is not None else None,
        ChannelSpec.from_stored(distribution.channels),
    )


def active_rules(session: Session, project_id: str) -> dict[str, tuple[ActiveRule, ...]]:
    """The project's active distributions by trigger, oldest first (cached until one changes)."""
    return CACHE.get(
        project_id, ("distributions", project_id), lambda: _load_active(session, project_id)
    )


def matching_distributions(
    session: Session,
    project_id: str,
    *,
    event_type: str,
    campaign_id: str | None,
) -> list[ActiveRule]:
    """Active distributions for an event type whose campaign filter fits.

    Segment and condition filters depend on the recipient, so the caller applies them with
    :func:`recipient_fits` once it knows who that is.
    """
    return [
        rule
        for rule in active_rules(session, project_id).get(event_type, ())
        if rule.distribution.filters.get("campaign_id") in (None, campaign_id)
    ]


def recipient_fits(rule: ActiveRule, customer: Customer, segment_filter: Filter | None) -> bool:
    """Whether the recipient passes the segment (``segment_filter``, parsed) and the conditions."""
    if segment_filter is not None and not matches(segment_filter, customer):
        return False
    return rule.conditions is None or matches(rule.conditions, customer)
