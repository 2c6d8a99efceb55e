"""Rows the tests need, written through the same functions the API calls.

Going through `create_template` and `publish_version` keeps the ids, checks and caches a test
sees identical to production's: a builder that wrote rows directly would let a test pass on data
production can never hold.
"""

from __future__ import annotations

from distribution.bulk import BulkSpec, create_job
from distribution.codes.campaigns import CampaignSpec, create_campaign
from distribution.codes.code_pools import CodeConfig, create_pool, generate_codes
from distribution.customers.segments import create_segment
from distribution.customers.store import upsert_customers
from distribution.events.distributions import DistributionSpec, create_distribution
from distribution.outbox import ChannelSpec
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from distribution.template_store import VersionInput, create_template, publish_version

INVITE_BODY = (
    "<p>Hi {{ customer.first_name }}, your code is {{ code.code }}: {{ code.referral_url }}</p>"
)


def publish_template(
    database: Database,
    project_id: str,
    *,
    channel: str = "email",
    category: str = "transactional",
    subject: str | None = "Your reward, {{ customer.first_name }}",
    body: str = "<p>Hi {{ customer.first_name }}, you earned "
    "{{ reward.amount | money(reward.currency) }}.</p>",
) -> str:
    """A template whose default variant's first version is live (HTML email or SMS); its id."""
    email = channel == "email"
    with database.session() as session:
        saved = create_template(
            session,
            project_id,
            name=f"t-{new_id('x')}",
            channel=channel,
            category=category,
            first_version=VersionInput(
                body=body,
                subject=subject if email else None,
                body_format="html" if email else None,
            ),
            actor="test",
        )
        template_id = saved.version.template_id
        publish_version(session, project_id, template_id, saved.version.id, actor="test")
    return template_id


def distribute(
    database: Database,
    project_id: str,
    trigger: str,
    channels: list[tuple[str, str, str]],
    **options: object,
) -> str:
    """A distribution sending each (channel, template, provider); returns its id."""
    spec = DistributionSpec(
        name=f"d-{new_id('x')}",
        trigger=trigger,
        channels=[ChannelSpec(c, t, p) for c, t, p in channels],
        filters=dict(options.pop("filters", {})),  # type: ignore[call-overload]
        **options,  # type: ignore[arg-type]
    )
    with database.session() as session:
        return create_distribution(session, project_id, spec, actor="test").id


def bulk_setup(database: Database, project_id: str, customers: int, codes: int) -> dict[str, str]:
    """An invite template, a campaign with a pool of `codes` codes, and a segment of `customers`.

    Returns the ids by role: template, campaign, pool, segment.
    """
    template = publish_template(
        database, project_id, subject="Invite for {{ customer.first_name }}", body=INVITE_BODY
    )
    rows = [
        {
            "source_id": f"r{i}",
            "name": f"Reader {i}",
            "email": f"r{i}@example.com",
            "metadata": {"wave": "one"},
        }
        for i in range(customers)
    ]
    with database.session() as session:
        campaign = create_campaign(
            session,
            project_id,
            CampaignSpec(name="Invite", referral_url_template="https://shop.example.com/r/{code}"),
        )
        pool = create_pool(session, project_id, campaign.id, "main")
        segment = create_segment(
            session, project_id, "wave one", {"field": "metadata.wave", "op": "eq", "value": "one"}
        )
        upsert_customers(session, project_id, rows, default_region="US")
    if codes:
        generate_codes(database, project_id, pool.id, CodeConfig(count=codes, length=12))
    return {"template": template, "campaign": campaign.id, "pool": pool.id, "segment": segment.id}


def bulk_spec(ids: dict[str, str], **options: object) -> BulkSpec:
    """A bulk send of `bulk_setup`'s template to its segment through the capture provider."""
    return BulkSpec(
        campaign_id=ids["campaign"],
        channels=[ChannelSpec("email", ids["template"], "capture")],
        segment_id=ids["segment"],
        **options,  # type: ignore[arg-type]
    )


def held_bulk_job(database: Database, project_id: str, customers: int) -> str:
    """A bulk job of ``bulk_spec`` to ``customers`` customers (as many codes), created and not
    begun, whose messages would wait an hour: tests move it a step at a time."""
    ids = bulk_setup(database, project_id, customers, customers)
    with database.session() as session:
        return create_job(
            session, project_id, bulk_spec(ids, send_delay_seconds=3600), actor="t"
        ).id
