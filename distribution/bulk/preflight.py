"""The preflight of a bulk send: what would happen, before anything is assigned or sent.

Streams the whole audience in batches (read only): addresses missing or invalid per channel,
marketing suppressions, customers already holding a code of the campaign, codes available vs
needed, a strict missing-variable check of every row with a stand-in code (listing the first
rows that fail), renders of the first rows as samples, and SMS segments. An email row whose
context holds every path its template reads is checked without a render (``variable_paths``);
any other row is rendered. The same report is stored with the job when it starts.

The walk can be split: ``check_range`` checks one range of customer ids, ``assemble`` adds the
parts up into the report (distributed workers check the ranges of a large job in parallel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from distribution.bulk.audience import audience_size, customer_pages
from distribution.bulk.recipients import Recipients, load_channels
from distribution.codes.assignment import code_links
from distribution.codes.campaigns import get_campaign
from distribution.codes.code_pools import get_pool, pool_stats
from distribution.customers.segments import get_segment, member_condition
from distribution.models import BulkJob, Code, Customer, Project
from distribution.outbox import (
    PROFILE,
    ChannelSpec,
    LinkSettings,
    Refusal,
    RefusalKind,
    address_refusal,
)
from distribution.storage.db import refresh_statistics

__all__ = [
    "SAMPLE_CODE",
    "StockCheck",
    "assemble",
    "check_range",
    "preflight",
    "stock_check",
]

#: What templates see as the code in a preflight render.
SAMPLE_CODE = "PREFLIGHT-CODE"
MAX_FAILURES = 20
SAMPLES = 3
_BATCH = 2_000


@dataclass(frozen=True)
class StockCheck:
    """Codes the audience needs against codes the pool has."""

    audience: int
    holders: int
    needed: int
    available: int

    @property
    def short(self) -> bool:
        return self.available < self.needed


# The tables a job's checks and preparation read in proportion to the audience. Their statistics
# are refreshed (``refresh_statistics``) by every stock check, the first thing a job, its dry
# run and its start do: a bulk send often follows a large import.
_AUDIENCE_TABLES = ("customer", "code", "suppression", "delivery")


def _holders(session: Session, job: BulkJob) -> int:
    """Audience customers who already hold a code of the campaign."""
    query = (
        select(func.count())
        .select_from(Code)
        .join(Customer, col(Customer.id) == col(Code.customer_id))
        .where(
            Code.campaign_id == job.campaign_id,
            Customer.project_id == job.project_id,
            col(Customer.erased_at).is_(None),
        )
    )
    if "segment_id" in job.audience:
        segment = get_segment(session, job.project_id, str(job.audience["segment_id"]))
        query = query.where(member_condition(segment, session.get_bind().dialect.name))
        return int(session.exec(query).one())
    listed: list[str] = job.audience.get("customer_ids", [])
    return sum(
        int(session.exec(query.where(col(Customer.id).in_(listed[i : i + 5000]))).one())
        for i in range(0, len(listed), 5000)
    )


def stock_check(session: Session, job: BulkJob) -> StockCheck:
    """Whether the pool covers the audience (counts only: cheap enough to run per request)."""
    refresh_statistics(session.get_bind(), _AUDIENCE_TABLES)
    audience = audience_size(session, job)
    holders = _holders(session, job)
    available = pool_stats(session, str(job.options["pool_id"])).available
    return StockCheck(audience, holders, max(0, audience - holders), available)


# The counts of a channel's report, summed over the parts of a preflight.
_COUNTS = (
    "sendable",
    "no_address",
    "invalid_address",
    "no_identity",
    "suppressed",
    "render_failures",
    "sms_segments",
)


def preflight(
    session: Session, job: BulkJob, links: LinkSettings, stock: StockCheck | None = None
) -> dict[str, Any]:
    """The full report (JSON-ready). ``ok`` is false when the job must not start. ``stock``:
    the job's stock of codes when the caller has just counted it."""
    return assemble(session, job, [check_range(session, job, links)], stock)


def check_range(
    session: Session,
    job: BulkJob,
    links: LinkSettings,
    after: str | None = None,
    upto: str | None = None,
) -> dict[str, Any]:
    """The per-row checks of the audience customers with ids in (``after``, ``upto``] (the
    whole audience by default): one part of a report, JSON-ready, for ``assemble``."""
    project = session.get(Project, job.project_id)
    assert project is not None
    campaign = get_campaign(session, job.project_id, str(job.campaign_id))
    channels = load_channels(session, job.project_id, ChannelSpec.from_stored(job.channels))
    recipients = Recipients(session, project, campaign, links, channels)
    per_channel: list[dict[str, int]] = [dict.fromkeys(_COUNTS, 0) for _ in channels]
    failures: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    code = code_links(links, campaign, SAMPLE_CODE)
    for customers in customer_pages(session, job, after, upto, _BATCH):
        for channel, report in zip(channels, per_channel, strict=True):
            suppressed = recipients.suppressed(customers, channel)
            for customer in customers:
                if channel.channel != PROFILE:
                    address = customer.email if channel.channel == "email" else customer.phone
                    refused = address_refusal(channel.channel, address)
                    if refused is not None:
                        report[refused.kind] += 1  # no_address or invalid_address
                        continue
                if customer.id in suppressed:
                    report["suppressed"] += 1
                    continue
                if len(samples) >= SAMPLES and recipients.surely_complete(customer, channel, code):
                    report["sendable"] += 1
                    continue
                prepared = recipients.prepare(customer, channel, code, suppressed=False)
                if isinstance(prepared, Refusal) and prepared.kind in _COUNTED_REFUSALS:
                    report[prepared.kind] += 1  # the platform's id (or its address) is missing
                    continue
                if isinstance(prepared, Refusal):
                    report["render_failures"] += 1
                    if len(failures) < MAX_FAILURES:
                        failures.append(
                            {
                                "customer_id": customer.id,
                                "channel": channel.channel,
                                "reason": prepared.reason,
                                "missing": list(prepared.missing),
                            }
                        )
                    continue
                report["sendable"] += 1
                report["sms_segments"] += prepared.segments
                if len(samples) < SAMPLES:
                    samples.append(
                        {
                            "customer_id": customer.id,
                            "channel": channel.channel,
                            "provider": channel.provider,
                        }
                        | _excerpt(prepared.content)
                    )
        session.expunge_all()
    return {"channels": per_channel, "failures": failures, "samples": samples}


def assemble(
    session: Session,
    job: BulkJob,
    parts: Sequence[dict[str, Any]],
    stock: StockCheck | None = None,
) -> dict[str, Any]:
    """The report of ``check_range`` parts that cover the audience, in id order: the same
    report as one walk over the whole audience (counts summed, the first failures and samples
    kept), with the stock of codes (counted now unless given)."""
    pool = get_pool(session, job.project_id, str(job.options["pool_id"]))
    channels = load_channels(session, job.project_id, ChannelSpec.from_stored(job.channels))
    stock = stock or stock_check(session, job)
    per_channel = [
        {
            "channel": c.channel,
            "template": c.template,
            "provider": c.provider,
            "marketing": c.marketing,
        }
        | {count: sum(part["channels"][i][count] for part in parts) for count in _COUNTS}
        for i, c in enumerate(channels)
    ]
    problems = [
        f"provider {c.provider!r} maps none of {', '.join(sorted(_CODE_VALUES))}: "
        "the profiles would not get the code"
        for c in channels
        if c.channel == PROFILE and c.facts.mapped is not None and not c.facts.mapped & _CODE_VALUES
    ]
    if stock.short and not job.options.get("send_to_available"):
        problems.append(
            f"the pool has {stock.available} codes but the audience needs {stock.needed}"
        )
    return {
        "ok": not problems,
        "problems": problems,
        "audience": stock.audience,
        "already_have_code": stock.holders,
        "codes_needed": stock.needed,
        "codes_available": stock.available,
        "pool_id": pool.id,
        "send_to_available": bool(job.options.get("send_to_available")),
        "channels": per_channel,
        # False on a job's report until the rows are checked, after its first batch.
        "rows_checked": bool(parts),
        "render_failures": [f for part in parts for f in part["failures"]][:MAX_FAILURES],
        "samples": [s for part in parts for s in part["samples"]][:SAMPLES],
        "sms": {
            "messages": sum(r["sendable"] for r in per_channel if r["channel"] == "sms"),
            "segments": sum(r["sms_segments"] for r in per_channel),
            "cost_basis": "segments x the provider's price per segment",
        },
    }


# What a bulk send's profile write is for: a mapping writing none of them is a problem.
_CODE_VALUES = frozenset({"code", "referral_link", "qr_url"})
# Refusals counted per channel rather than listed as failures: they concern the data of
# customers, not the template.
_COUNTED_REFUSALS = frozenset(
    {RefusalKind.NO_IDENTITY, RefusalKind.NO_ADDRESS, RefusalKind.INVALID_ADDRESS}
)


def _excerpt(content: dict[str, Any]) -> dict[str, Any]:
    if "profile" in content:
        return {"profile": content["profile"]}
    if "body" in content:
        return {"body": content["body"], "segments": content.get("segments")}
    return {"subject": content.get("subject"), "text": str(content.get("text") or "")[:500]}
