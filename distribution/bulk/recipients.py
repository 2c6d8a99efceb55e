"""What one recipient gets on one channel of a bulk job: an address, a variant, a render.

Shared by the preflight (which renders with a stand-in code and writes nothing) and the
preparation (which renders with the recipient's own code and writes the delivery row). Variant
resolution is cached per (locale, segments) and renders use the compiled template of the
version, so a recipient costs one Jinja evaluation per channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, or_, select

from distribution.bulk.variable_paths import VariablePaths, variable_paths
from distribution.customers.segment_filter import Filter, matches, parse_filter
from distribution.customers.segments import list_segments
from distribution.errors import DistributionError, FieldError, InvalidInputError
from distribution.models import (
    Campaign,
    CustomerLike,
    CustomerRecord,
    MessageTemplate,
    Project,
    Suppression,
    TemplateVariant,
    TemplateVersion,
)
from distribution.outbox import (
    PROFILE,
    ChannelProvider,
    ChannelSpec,
    LinkSettings,
    LiveChoice,
    PreparedMessage,
    Refusal,
    address_refusal,
    channel_errors,
    identify,
    prepare_message,
    role_error,
)
from distribution.provider_configs.store import channel_provider
from distribution.template_store import (
    build_context,
    choose_live_version,
    compile_version,
    customer_variables,
    load_live_template,
)
from templates import CompiledEmail, CompiledSms, ab_arm

__all__ = ["JobChannel", "Recipients", "load_channels"]


@dataclass(frozen=True)
class JobChannel(ChannelSpec):
    """One channel of a bulk job, checked, with what every recipient on it shares."""

    index: int
    marketing: bool
    segmented: bool  # some live variant targets a segment: membership must be computed
    #: The provider's role and how it identifies users.
    facts: ChannelProvider

    def reachable(self, customer: CustomerLike) -> bool:
        """Whether the customer has what this channel needs: an address, a platform's id."""
        if self.channel != PROFILE:
            address = customer.email if self.channel == "email" else customer.phone
            if address_refusal(self.channel, address) is not None:
                return False
        identity = self.facts.identity
        return identity is None or not isinstance(identify(customer, self, identity), Refusal)


def load_channels(
    session: Session, project_id: str, specs: Sequence[ChannelSpec]
) -> list[JobChannel]:
    """Check a job's channels (template exists and fits, provider exists and serves the
    channel), naming bad fields."""
    errors = channel_errors(specs)
    if errors:
        raise InvalidInputError(errors)
    channels: list[JobChannel] = []
    for index, spec in enumerate(specs):
        where = f"channels[{index}]"
        channel, template_id, provider = spec.channel, spec.template, spec.provider
        facts = channel_provider(session, project_id, provider)
        if facts is None:
            errors.append(FieldError(f"{where}.provider", "no such provider"))
            continue
        wrong_role = role_error(index, spec, facts.role)
        if wrong_role is not None:
            errors.append(wrong_role)
            continue
        if channel == PROFILE:
            channels.append(JobChannel(channel, "", provider, index, False, False, facts))
            continue
        template = session.exec(
            select(MessageTemplate).where(
                MessageTemplate.project_id == project_id, MessageTemplate.id == template_id
            )
        ).first()
        if template is None or template.archived_at is not None:
            errors.append(FieldError(f"{where}.template", "no such live template"))
            continue
        if template.channel != channel:
            errors.append(FieldError(f"{where}.template", f"is a {template.channel} template"))
            continue
        segmented = (
            session.exec(
                select(TemplateVariant.id).where(
                    TemplateVariant.template_id == template_id,
                    col(TemplateVariant.segment_id).is_not(None),
                    col(TemplateVariant.live_version_id).is_not(None),
                )
            ).first()
            is not None
        )
        channels.append(
            JobChannel(
                channel=channel,
                template=template_id,
                provider=provider,
                index=index,
                marketing=template.category == "marketing",
                segmented=segmented,
                facts=facts,
            )
        )
    if errors:
        raise InvalidInputError(errors)
    return channels


@dataclass(frozen=True)
class _Resolved:
    """The variant a kind of recipient gets: its live version, or the arms of its A/B test."""

    variant_id: str
    live: LiveChoice
    arms: tuple[LiveChoice, ...]
    weights: tuple[int, ...]


class Recipients:
    """Renders one batch of recipients for a job's channels (one per transaction)."""

    def __init__(
        self,
        session: Session,
        project: Project,
        campaign: Campaign | None,
        links: LinkSettings,
        channels: Sequence[JobChannel],
    ) -> None:
        self.session = session
        self.project = project
        self.campaign = campaign
        self.links = links
        self.channels = channels
        self._choices: dict[tuple[Any, ...], _Resolved | DistributionError] = {}
        self._compiled: dict[str, CompiledEmail | CompiledSms] = {}
        self._checks: dict[tuple[Any, ...], tuple[VariablePaths, bool]] = {}
        self._paths: dict[str, VariablePaths] = {}
        self._segments: list[tuple[str, Filter]] | None = None

    def suppressed(self, customers: Sequence[CustomerRecord], channel: JobChannel) -> set[str]:
        """Ids of the customers whose marketing on the channel is suppressed (one query)."""
        if not channel.marketing or not customers:
            return set()
        addresses = [
            a for a in (c.email if channel.channel == "email" else c.phone for c in customers) if a
        ]
        rows = self.session.exec(
            select(Suppression.address, Suppression.customer_id).where(
                Suppression.project_id == self.project.id,
                Suppression.channel == channel.channel,
                or_(
                    col(Suppression.address).in_(addresses),
                    col(Suppression.customer_id).in_([c.id for c in customers]),
                ),
            )
        ).all()
        by_address = {a for a, _ in rows}
        by_customer = {c for _, c in rows if c}
        return {
            c.id
            for c in customers
            if c.id in by_customer
            or (c.email if channel.channel == "email" else c.phone) in by_address
        }

    def _member_of(self, customer: CustomerLike) -> tuple[str, ...]:
        if self._segments is None:
            self._segments = [
                (s.id, parse_filter(s.filter)) for s in list_segments(self.session, self.project.id)
            ]
        return tuple(s for s, f in self._segments if matches(f, customer))

    def _choice(self, channel: JobChannel, customer: CustomerLike) -> LiveChoice:
        members = self._member_of(customer) if channel.segmented else ()
        key = (channel.index, customer.locale, members)
        found = self._choices.get(key)
        if found is None:
            try:
                live = load_live_template(self.session, self.project.id, channel.template)
                variant, version = choose_live_version(
                    live,
                    campaign_id=self.campaign.id if self.campaign else None,
                    segment_ids=members,
                    locale=customer.locale,
                )
                arms = live.arms.get(variant.id, ())
                found = _Resolved(
                    variant.id,
                    self._live_choice(channel, version),
                    tuple(self._live_choice(channel, v) for v, _weight in arms),
                    tuple(weight for _version, weight in arms),
                )
            except DistributionError as error:
                found = error
            self._choices[key] = found
        if isinstance(found, DistributionError):
            raise found
        if not found.arms:
            return found.live
        return found.arms[ab_arm(found.variant_id, customer.id, found.weights)]

    @staticmethod
    def _live_choice(channel: JobChannel, version: TemplateVersion) -> LiveChoice:
        return LiveChoice(channel.template, channel.channel, channel.marketing, version)

    def _context(
        self, customer: CustomerLike, code: dict[str, Any] | None, unsubscribe_url: str
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "links": {"unsubscribe_url": unsubscribe_url, "preferences_url": unsubscribe_url}
        }
        if self.campaign is not None:
            extra["campaign"] = {
                "id": self.campaign.id,
                "name": self.campaign.name,
                "type": self.campaign.type,
                "metadata": self.campaign.meta,
            }
        if code is not None:
            extra["code"] = code
        return build_context(customer, project=self.project, extra=extra)

    def _variable_paths(self, version: TemplateVersion) -> VariablePaths:
        found = self._paths.get(version.id)
        if found is None:
            parts = (version.subject, version.body, version.text_body)
            found = self._paths[version.id] = variable_paths(parts)
        return found

    def _needs_link(self, channel: JobChannel, version: TemplateVersion) -> bool:
        """Whether the unsubscribe link must be signed: marketing carries it, or the template
        may read it (the HMAC is a fair share of a small message's render)."""
        if channel.marketing:
            return True
        paths = self._variable_paths(version)
        return not paths.simple or any(path[0] == "links" for path in paths.paths)

    def surely_complete(
        self, customer: CustomerRecord, channel: JobChannel, code: dict[str, Any] | None
    ) -> bool:
        """Whether a strict render of this email recipient cannot miss a variable, unrendered.

        True only for an email template that reads plain paths alone, all of them present in
        the recipient's context (see ``variable_paths``); otherwise render to find out. What
        the template reads outside ``customer`` is the same for every row: it is checked once,
        and a row costs only its own ``customer`` variables.
        """
        if channel.channel != "email":
            return False  # an SMS render also counts its segments
        if channel.facts.identity is not None and not channel.reachable(customer):
            return False  # the refusal of a customer the platform cannot identify
        try:
            version = self._choice(channel, customer).version
        except DistributionError:
            return False
        key = (version.id, None if code is None else tuple(sorted(code)))
        check = self._checks.get(key)
        if check is None:
            per_customer, shared = self._variable_paths(version).split("customer")
            # The link itself does not matter here, only that the context holds one.
            shared_present = shared.all_present(self._context(customer, code, ""))
            check = self._checks[key] = (per_customer, shared_present)
        per_customer, shared_present = check
        return shared_present and per_customer.all_present(customer_variables(customer))

    def prepare(
        self,
        customer: CustomerRecord,
        channel: JobChannel,
        code: dict[str, Any] | None,
        *,
        suppressed: bool,
    ) -> PreparedMessage | Refusal:
        """One recipient's message on one channel (``suppressed``: from ``suppressed``)."""
        return prepare_message(customer, channel, _RecipientLookups(self, code, suppressed))


class _RecipientLookups:
    """The batch's precomputed lookups, with one recipient's code and suppression."""

    __slots__ = ("code", "is_suppressed", "recipients")

    def __init__(
        self, recipients: Recipients, code: dict[str, Any] | None, is_suppressed: bool
    ) -> None:
        self.recipients = recipients
        self.code = code
        self.is_suppressed = is_suppressed

    def provider(self, spec: JobChannel) -> ChannelProvider:
        return spec.facts

    def live_choice(self, recipient: CustomerLike, spec: JobChannel) -> LiveChoice:
        return self.recipients._choice(spec, recipient)

    def suppressed(self, recipient: CustomerLike, spec: JobChannel, address: str) -> bool:
        return self.is_suppressed

    def capped_hours(self, recipient: CustomerLike) -> int | None:
        return None  # bulk sends have no frequency cap

    def unsubscribe_url(self, recipient: CustomerLike, spec: JobChannel, choice: LiveChoice) -> str:
        recipients = self.recipients
        if not recipients._needs_link(spec, choice.version):
            return ""
        return recipients.links.unsubscribe_url(recipients.project.id, recipient.id, spec.channel)

    def context(self, recipient: CustomerLike, unsubscribe_url: str) -> dict[str, Any]:
        return self.recipients._context(recipient, self.code, unsubscribe_url)

    def compiled(self, version: TemplateVersion) -> CompiledEmail | CompiledSms:
        cache = self.recipients._compiled
        found = cache.get(version.id)
        if found is None:
            found = cache[version.id] = compile_version(version)
        return found
