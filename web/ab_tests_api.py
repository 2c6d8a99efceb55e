"""``/v1/templates/{id}/variants/{id}/ab-test``: split a variant's sends between versions.

Start (or replace) a test with ``PUT``, read each arm's results with ``GET``, end it with
``POST .../end`` (``winner`` publishes that version first). See docs/ab-tests.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath

from distribution.analytics.ab_tests import (
    MAX_ARMS,
    Arm,
    ArmResult,
    ab_results,
    end_ab_test,
    start_ab_test,
)
from distribution.models import TemplateVariant
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.stored_times import utc_or_none

__all__ = ["AbTestController", "AbTestOut", "ab_test_out"]


class ArmIn(msgspec.Struct, forbid_unknown_fields=True):
    """One version of the test and its weight (its share is weight / sum of weights)."""

    version_id: str
    weight: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1


class AbTestIn(msgspec.Struct, forbid_unknown_fields=True):
    """The arms of a test: 2 to 5 versions of this variant."""

    arms: Annotated[list[ArmIn], msgspec.Meta(max_length=MAX_ARMS)]


class EndIn(msgspec.Struct, forbid_unknown_fields=True):
    """How the test ends: with a winner made live, or with the live version kept (null)."""

    winner: str | None = None


class ArmOut(msgspec.Struct):
    """One arm; the results fields count the arm's messages since the test started."""

    version_id: str
    weight: int
    number: int | None = None
    messages: int | None = None
    sent: int | None = None
    delivered: int | None = None
    failed: int | None = None
    converted: int | None = None
    conversions: int | None = None
    revenue: list[dict[str, Any]] | None = None
    conversion_rate: float | None = None
    conversion_interval: list[float] | None = None


class AbTestOut(msgspec.Struct):
    """The test running on a variant: its arms and since when."""

    variant_id: str
    started_at: datetime | None
    arms: list[ArmOut]
    object: str = "ab_test"


def ab_test_out(variant: TemplateVariant) -> AbTestOut | None:
    """The variant's running test, or None."""
    if not variant.ab_arms:
        return None
    arms = [ArmOut(a["version_id"], int(a["weight"])) for a in variant.ab_arms]
    return AbTestOut(variant.id, utc_or_none(variant.ab_started_at), arms)


def _result_out(result: ArmResult) -> ArmOut:
    interval = result.conversion_interval
    stats = result.stats
    return ArmOut(
        version_id=result.version_id,
        weight=result.weight,
        number=result.number,
        messages=stats["messages"],
        sent=stats["sent"],
        delivered=stats["delivered"],
        failed=stats["failed"],
        converted=stats["converted"],
        conversions=stats["conversions"],
        revenue=stats["revenue"],
        conversion_rate=result.conversion_rate,
        conversion_interval=list(interval) if interval else None,
    )


_PATH = "/v1/templates/{template_id:str}/variants/{variant_id:str}/ab-test"


class AbTestController(Controller):
    """A/B tests of template versions."""

    path = _PATH
    tags = ["templates"]
    security = SECURITY

    @put(sync_to_thread=True, summary="Start an A/B test (or replace the running one)")
    def start(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        variant_id: FromPath[str],
        data: Annotated[
            AbTestIn,
            Body(
                examples=[
                    Example(
                        summary="Live version against a challenger, half each",
                        value={
                            "arms": [
                                {"version_id": "tver_live", "weight": 50},
                                {"version_id": "tver_challenger", "weight": 50},
                            ]
                        },
                    )
                ]
            ),
        ],
    ) -> AbTestOut | None:
        arms = [Arm(arm.version_id, arm.weight) for arm in data.arms]
        with db.session() as session:
            variant = start_ab_test(session, caller.project_id, template_id, variant_id, arms)
            return ab_test_out(variant)

    @get(sync_to_thread=True, summary="The running test with each arm's results")
    def results(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        variant_id: FromPath[str],
    ) -> AbTestOut:
        with db.reader() as session:
            variant, results = ab_results(session, caller.project_id, template_id, variant_id)
            return AbTestOut(
                variant.id,
                utc_or_none(variant.ab_started_at),
                [_result_out(result) for result in results],
            )

    @post("/end", sync_to_thread=True, status_code=200, summary="End the test")
    def end(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        variant_id: FromPath[str],
        data: Annotated[
            EndIn,
            Body(examples=[Example(summary="Publish the winner", value={"winner": "tver_b"})]),
        ],
    ) -> AbTestOut | None:
        with db.session() as session:
            variant = end_ab_test(
                session,
                caller.project_id,
                template_id,
                variant_id,
                winner=data.winner,
                actor=caller.actor,
            )
            return ab_test_out(variant)
