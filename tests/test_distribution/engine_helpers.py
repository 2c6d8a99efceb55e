"""Shared set-up for delivery-engine tests: published templates and a sender source."""

from __future__ import annotations

from dataclasses import dataclass, field

from distribution.db import Database
from distribution.delivery import DeliveryPolicy
from distribution.distributions import DistributionSpec, create_distribution
from distribution.ids import new_id
from distribution.models import MessageTemplate, TemplateVariant, TemplateVersion
from distribution.outbox import LinkSettings
from distribution.worker import EmbeddedWorker
from providers import Provider
from providers.capture import CaptureConfig, CaptureProvider

LINKS = LinkSettings(public_url="https://dm.example.com", secret_key="engine-test-secret")
FAST_RETRIES = DeliveryPolicy(max_attempts=8, base_backoff=0.0, max_backoff=0.0)


@dataclass
class Senders:
    """A SenderSource over real provider objects, keyed by provider name."""

    providers: dict[str, Provider] = field(default_factory=dict)

    async def sender(self, project_id: str, name: str) -> Provider:
        from distribution.errors import NotFoundError

        if name not in self.providers:
            raise NotFoundError("provider", name)
        return self.providers[name]


def capture() -> CaptureProvider:
    return CaptureProvider("capture", CaptureConfig())


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
    """A template with one published default variant; returns its id."""
    template_id = new_id("tmpl")
    variant_id = new_id("var")
    version_id = new_id("tver")
    with database.session() as session:
        session.add(
            MessageTemplate(
                id=template_id,
                project_id=project_id,
                name=f"t-{template_id}",
                channel=channel,
                category=category,
            )
        )
        session.flush()
        session.add(
            TemplateVariant(
                id=variant_id,
                project_id=project_id,
                template_id=template_id,
                variant_key="||",
                live_version_id=version_id,
            )
        )
        session.flush()
        session.add(
            TemplateVersion(
                id=version_id,
                project_id=project_id,
                template_id=template_id,
                variant_id=variant_id,
                number=1,
                subject=subject if channel == "email" else None,
                body=body,
                body_format="html" if channel == "email" else "text",
            )
        )
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
        channels=[{"channel": c, "template": t, "provider": p} for c, t, p in channels],
        filters=dict(options.pop("filters", {})),  # type: ignore[call-overload]
        **options,  # type: ignore[arg-type]
    )
    with database.session() as session:
        return create_distribution(session, project_id, spec, actor="test").id


async def drain(worker: EmbeddedWorker, rounds: int = 200) -> None:
    """Run rounds until nothing is due."""
    for _ in range(rounds):
        if await worker.run_once() == 0:
            return
    raise AssertionError("deliveries were still due after many rounds")
