"""A/B tests of template versions: a variant splits its sends between versions by weight.

While a test runs, a customer who gets this variant gets one arm's version, always the same one
(a hash of the variant and the customer, so a retried or repeated send never switches arms and
no assignment is stored). A send with no customer (a test send) gets the live version. The test
ends by publishing a winner, or by stopping it, which leaves the live version as it was.

Only a variant with a live version can be tested (sends resolve to variants through their live
version), and every arm must pass the check Publish makes, so no arm can fail where a published
version would not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from distribution.accounts.project_cache import changed
from distribution.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from distribution.models import TemplateVariant, TemplateVersion, utcnow
from distribution.outbox.conversions import Scope, scope_stats
from distribution.template_store.rendering import check_source, compile_version, source_of
from distribution.template_store.store import (
    get_template,
    get_version,
    publish_version,
    restore_version,
)

__all__ = [
    "MAX_ARMS",
    "Arm",
    "ArmResult",
    "ab_results",
    "end_ab_test",
    "start_ab_test",
]

MAX_ARMS = 5
MAX_WEIGHT = 1000
# The normal quantile of a two-sided 95% interval.
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Arm:
    """One version of an A/B test and its share of the sends (weight / sum of weights)."""

    version_id: str
    weight: int


def _variant(
    session: Session, project_id: str, template_id: str, variant_id: str, *, lock: bool = True
) -> TemplateVariant:
    template = get_template(session, project_id, template_id)
    query = select(TemplateVariant).where(
        TemplateVariant.id == variant_id, TemplateVariant.template_id == template.id
    )
    variant = session.exec(query.with_for_update() if lock else query).first()
    if variant is None:
        raise NotFoundError("template variant", variant_id)
    return variant


def start_ab_test(
    session: Session,
    project_id: str,
    template_id: str,
    variant_id: str,
    arms: Sequence[Arm],
) -> TemplateVariant:
    """Split the variant's sends between `arms` from now on (replacing a running test).

    Raises:
        InvalidInputError: Fewer than two or more than five arms, a weight out of 1-1000, a
            version repeated or of another variant, or a version Publish would refuse.
        ConflictError: The template is archived, or the variant has no live version.
    """
    template = get_template(session, project_id, template_id)
    if template.archived_at is not None:
        raise ConflictError(f"template {template.id!r} is archived")
    variant = _variant(session, project_id, template_id, variant_id)
    if variant.live_version_id is None:
        raise ConflictError("publish a version of this variant before testing others against it")
    errors: list[FieldError] = []
    if not 2 <= len(arms) <= MAX_ARMS:
        errors.append(FieldError("arms", f"must list 2 to {MAX_ARMS} versions"))
    versions: list[TemplateVersion] = []
    for index, arm in enumerate(arms):
        where = f"arms[{index}]"
        if not 1 <= arm.weight <= MAX_WEIGHT:
            errors.append(FieldError(f"{where}.weight", f"must be 1 to {MAX_WEIGHT}"))
        if any(a.version_id == arm.version_id for a in arms[:index]):
            errors.append(FieldError(f"{where}.version_id", "is already an arm of this test"))
            continue
        try:
            version = get_version(session, project_id, template_id, arm.version_id)
        except NotFoundError:
            errors.append(FieldError(f"{where}.version_id", "is not a version of this template"))
            continue
        if version.variant_id != variant.id:
            errors.append(FieldError(f"{where}.version_id", "belongs to another variant"))
            continue
        check = check_source(source_of(version), category=template.category)
        errors += [
            FieldError(f"{where}.version_id", f"version {version.number}: {problem.message}")
            for problem in check.errors
        ]
        versions.append(version)
    if errors:
        raise InvalidInputError(errors)
    for version in versions:
        compile_version(version)  # warm the cache: the first send should not pay for MJML
    variant.ab_arms = [{"version_id": a.version_id, "weight": a.weight} for a in arms]
    variant.ab_started_at = utcnow()
    session.add(variant)
    session.flush()
    changed(session, project_id)  # sends split from now on
    return variant


def end_ab_test(
    session: Session,
    project_id: str,
    template_id: str,
    variant_id: str,
    *,
    winner: str | None,
    actor: str | None,
) -> TemplateVariant:
    """Stop the test; with `winner` (an arm's version id), make that version live first.

    A winner that was live before is restored as a new live version (published versions are
    never published twice); the live version itself just stays.

    Raises:
        ConflictError: No test is running.
        InvalidInputError: `winner` is not an arm of the test.
    """
    variant = _variant(session, project_id, template_id, variant_id)
    if not variant.ab_arms:
        raise ConflictError("no A/B test is running on this variant")
    if winner is not None:
        if winner not in [arm["version_id"] for arm in variant.ab_arms]:
            raise InvalidInputError([FieldError("winner", "is not an arm of the running test")])
        version = get_version(session, project_id, template_id, winner)
        if variant.live_version_id != winner:
            if version.published_at is None:
                publish_version(session, project_id, template_id, winner, actor=actor)
            else:
                note = f"A/B test winner (version {version.number})"
                restore_version(
                    session, project_id, template_id, winner, publish=True, note=note, actor=actor
                )
        session.refresh(variant)
    variant.ab_arms = None
    variant.ab_started_at = None
    session.add(variant)
    session.flush()
    changed(session, project_id)
    return variant


@dataclass(frozen=True)
class ArmResult:
    """What one arm's messages did since the test started (`outbox.conversions.scope_stats`:
    ``messages``, ``sent``, ``delivered``, ``failed``, ``converted``, ``conversions``,
    ``revenue`` by currency), with the conversion rate of sent messages and its interval."""

    version_id: str
    number: int
    weight: int
    stats: dict[str, Any]
    conversion_rate: float | None
    conversion_interval: tuple[float, float] | None


def _wilson(successes: int, trials: int) -> tuple[float, float] | None:
    """The 95% Wilson score interval of a proportion (sound for small counts and 0 or 100%)."""
    if trials == 0:
        return None
    share = successes / trials
    spread = _Z95 * math.sqrt(share * (1 - share) / trials + _Z95**2 / (4 * trials**2))
    centre = share + _Z95**2 / (2 * trials)
    scale = 1 + _Z95**2 / trials
    return (max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale))


def ab_results(
    session: Session, project_id: str, template_id: str, variant_id: str
) -> tuple[TemplateVariant, list[ArmResult]]:
    """The running test and each arm's figures so far."""
    variant = _variant(session, project_id, template_id, variant_id, lock=False)
    if not variant.ab_arms or variant.ab_started_at is None:
        raise ConflictError("no A/B test is running on this variant")
    ids = [arm["version_id"] for arm in variant.ab_arms]
    numbers = dict(
        session.exec(
            select(TemplateVersion.id, TemplateVersion.number).where(
                col(TemplateVersion.id).in_(ids)
            )
        ).all()
    )
    results = []
    for arm in variant.ab_arms:
        scope = Scope("template_version_id", arm["version_id"])
        stats = scope_stats(session, project_id, scope, since=variant.ab_started_at)
        sent, converted = stats["sent"], stats["converted"]
        results.append(
            ArmResult(
                arm["version_id"],
                numbers.get(arm["version_id"], 0),
                arm["weight"],
                stats,
                converted / sent if sent else None,
                _wilson(converted, sent),
            )
        )
    return variant, results
