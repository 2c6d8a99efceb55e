"""``/v1/templates``: message templates, variants, immutable versions, publishing and preview."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from sqlmodel import Session

from distribution.models import TemplateVariant, TemplateVersion
from distribution.outbox import LinkSettings
from distribution.outbox.conversions import template_stats
from distribution.storage.db import Database
from distribution.template_store import (
    NoLiveVersionError,
    SavedVersion,
    SourceCheck,
    TemplateDetail,
    VariantDetail,
    VersionInput,
    add_version,
    archive_template,
    check_resolve_input,
    compare_version,
    create_template,
    duplicate_template,
    get_template,
    get_template_detail,
    get_version,
    list_templates,
    preview_context,
    publish_version,
    resolve_template,
    restore_version,
    update_template,
    validate_source,
    version_status,
)
from templates import (
    FILTER_SCHEMA,
    VARIABLE_SCHEMA,
)
from web.auth import SECURITY, Caller
from web.stats_schemas import TemplateStatsOut
from web.stored_times import utc, utc_or_none
from web.template_preview import preview_out, problems_out
from web.templates_schemas import (
    CompareOut,
    DuplicateIn,
    PreviewIn,
    PreviewOut,
    PublishIn,
    ResolveOut,
    RestoreIn,
    SavedVersionOut,
    TemplateDetailOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplatePatchIn,
    VariablesOut,
    VariantOut,
    VersionIn,
    VersionOut,
    VersionSummaryOut,
)

__all__ = ["TemplateController"]

REFERRAL_MJML = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text font-size="20px">Hi {{ customer.first_name | default('there') }},</mj-text>
        <mj-text>Give friends {{ reward.amount | money(reward.currency) }} off with your code
          <strong>{{ code.code }}</strong>.</mj-text>
        <mj-button href="{{ code.referral_link }}">Share your link</mj-button>
        <mj-text font-size="11px">{{ project.name }} ·
          <a href="{{ links.unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""

TEMPLATE_EXAMPLE = {
    "name": "Referral invite",
    "channel": "email",
    "category": "marketing",
    "description": "Sent when a customer gets a referral code",
    "subject": "{{ customer.first_name }}, give {{ reward.amount | money(reward.currency) }}",
    "body": REFERRAL_MJML,
}

VERSION_EXAMPLE = {
    "locale": "pt-BR",
    "subject": "{{ customer.first_name }}, dê {{ reward.amount | money(reward.currency) }}",
    "body": REFERRAL_MJML.replace("Share your link", "Compartilhe seu link"),
    "note": "Portuguese copy",
}


class _SourceFields(Protocol):
    """The source fields beside ``body`` and ``subject`` of every input that carries a source."""

    body_format: Literal["mjml", "html", "text"] | None
    text_body: str | None
    gsm_safe: bool


def _version_input(
    data: _SourceFields, *, body: str, subject: str | None, note: str | None = None
) -> VersionInput:
    """The version a request's source makes; each handler settles ``body`` and ``subject``."""
    return VersionInput(
        body=body,
        subject=subject,
        body_format=data.body_format,
        text_body=data.text_body,
        gsm_safe=data.gsm_safe,
        note=note,
    )


def _variant_of(session: Session, version: TemplateVersion) -> TemplateVariant:
    variant = session.get(TemplateVariant, version.variant_id)
    assert variant is not None  # a version is deleted with its variant
    return variant


def _version_out(version: TemplateVersion, variant: TemplateVariant) -> VersionOut:
    return VersionOut(
        id=version.id,
        template_id=version.template_id,
        variant_id=version.variant_id,
        number=version.number,
        status=version_status(version, variant),
        subject=version.subject,
        body=version.body,
        body_format=version.body_format,
        text_body=version.text_body,
        gsm_safe=version.gsm_safe,
        note=version.note,
        created_by=version.created_by,
        created_at=utc(version.created_at),
        published_at=utc_or_none(version.published_at),
        published_by=version.published_by,
    )


def _variant_out(detail: VariantDetail) -> VariantOut:
    variant = detail.variant
    return VariantOut(
        id=variant.id,
        campaign_id=variant.campaign_id,
        segment_id=variant.segment_id,
        locale=variant.locale,
        live_version=_version_out(detail.live, variant) if detail.live else None,
        latest_draft=_version_out(detail.latest_draft, variant) if detail.latest_draft else None,
    )


def _detail_out(detail: TemplateDetail, check: SourceCheck | None = None) -> TemplateDetailOut:
    template = detail.template
    variants = {d.variant.id: d.variant for d in detail.variants}
    return TemplateDetailOut(
        id=template.id,
        name=template.name,
        channel=template.channel,
        category=template.category,
        description=template.description,
        status=detail.status,
        created_at=utc(template.created_at),
        updated_at=utc(template.updated_at),
        archived_at=utc_or_none(template.archived_at),
        variants=[_variant_out(d) for d in detail.variants],
        versions=[
            VersionSummaryOut(
                id=v.id,
                variant_id=v.variant_id,
                number=v.number,
                status=version_status(v, variants[v.variant_id]),
                note=v.note,
                created_by=v.created_by,
                created_at=utc(v.created_at),
                published_at=utc_or_none(v.published_at),
                published_by=v.published_by,
            )
            for v in detail.versions
        ],
        errors=problems_out(check.errors) if check else [],
        warnings=list(check.warnings) if check else [],
    )


def _saved_out(saved: SavedVersion) -> SavedVersionOut:
    return SavedVersionOut(
        version=_version_out(saved.version, saved.variant),
        errors=problems_out(saved.check.errors),
        warnings=list(saved.check.warnings),
        publishable=not saved.check.errors,
    )


class TemplateController(Controller):
    """Message templates of the caller's project."""

    path = "/v1/templates"
    tags = ["templates"]
    security = SECURITY

    @post("/", sync_to_thread=True, summary="Create a template with its first draft")
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[
            TemplateIn,
            Body(examples=[Example(summary="An MJML referral email", value=TEMPLATE_EXAMPLE)]),
        ],
    ) -> TemplateDetailOut:
        first = None
        if data.body is not None or data.subject is not None or data.text_body is not None:
            first = _version_input(data, body=data.body or "", subject=data.subject)
        with db.session() as session:
            saved = create_template(
                session,
                caller.project_id,
                name=data.name,
                channel=data.channel,
                category=data.category,
                description=data.description,
                first_version=first,
                actor=caller.actor,
            )
            detail = get_template_detail(session, caller.project_id, saved.version.template_id)
            return _detail_out(detail, saved.check)

    @get("/", sync_to_thread=True, summary="List templates, most recently edited first")
    def index(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        q: FromQuery[str | None] = None,
        channel: FromQuery[Literal["email", "sms"] | None] = None,
        status: FromQuery[Literal["live", "draft", "archived"] | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> TemplateList:
        with db.reader() as session:
            page = list_templates(
                session,
                caller.project_id,
                q=q or None,
                channel=channel,
                status=status,
                limit=limit,
                offset=offset,
            )
        return TemplateList(
            templates=[
                TemplateOut(
                    id=s.template.id,
                    name=s.template.name,
                    channel=s.template.channel,
                    category=s.template.category,
                    description=s.template.description,
                    status=s.status,
                    variants_count=s.variants_count,
                    created_at=utc(s.template.created_at),
                    updated_at=utc(s.template.updated_at),
                    archived_at=utc_or_none(s.template.archived_at),
                )
                for s in page.templates
            ],
            has_more=page.has_more,
        )

    @get("/variables", sync_to_thread=False, summary="Variables and filters templates can use")
    def variables(self, caller: NamedDependency[Caller]) -> VariablesOut:
        # The same for every project, but documented (and now answered) behind the API key like
        # every /v1 operation: the editor has its own copy in the page.
        return VariablesOut(variables=VARIABLE_SCHEMA, filters=FILTER_SCHEMA)

    @post(
        "/preview",
        sync_to_thread=True,
        status_code=200,
        summary="Render an unsaved source with sample data (errors are a 200 with `errors`)",
    )
    def preview(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        links: NamedDependency[LinkSettings],
        data: Annotated[
            PreviewIn,
            Body(
                examples=[
                    Example(
                        summary="An email with inline sample data",
                        value={
                            "channel": "email",
                            "subject": TEMPLATE_EXAMPLE["subject"],
                            "body": REFERRAL_MJML,
                            "sample": {"customer": {"first_name": "Ada"}},
                        },
                    ),
                    Example(
                        summary="An SMS for a stored customer",
                        value={
                            "channel": "sms",
                            "body": "Hi {{ customer.first_name }}, your code is {{ code.code }}",
                            "customer_id": "shop-42",
                        },
                    ),
                ]
            ),
        ],
    ) -> PreviewOut:
        source = validate_source(
            data.channel,
            _version_input(
                data,
                body=data.body,
                subject=data.subject if data.channel == "sms" else data.subject or "",
            ),
        )
        with db.reader() as session:
            context = preview_context(
                session,
                caller.project_id,
                customer_id=data.customer_id,
                sample=data.sample,
                qr_url=links.qr_url,
            )
            category = (
                get_template(session, caller.project_id, data.template_id).category
                if data.template_id
                else data.category or "transactional"
            )
        return preview_out(source, context, category=category)

    @get("/{template_id:str}", sync_to_thread=True, summary="A template with variants and history")
    def retrieve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
    ) -> TemplateDetailOut:
        with db.reader() as session:
            return _detail_out(get_template_detail(session, caller.project_id, template_id))

    @get(
        "/{template_id:str}/stats",
        sync_to_thread=True,
        summary="Messages and conversions in total, per variant (arm) and per version",
    )
    def stats(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
    ) -> TemplateStatsOut:
        with db.reader() as session:
            get_template(session, caller.project_id, template_id)
            return msgspec.convert(
                template_stats(session, caller.project_id, template_id), TemplateStatsOut
            )

    @patch("/{template_id:str}", sync_to_thread=True, summary="Rename or describe a template")
    def update(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        data: Annotated[
            TemplatePatchIn,
            Body(examples=[Example(summary="Rename", value={"name": "Referral invite 2027"})]),
        ],
    ) -> TemplateDetailOut:
        with db.session() as session:
            update_template(
                session,
                caller.project_id,
                template_id,
                name=data.name,
                description=data.description,
            )
            return _detail_out(get_template_detail(session, caller.project_id, template_id))

    @post(
        "/{template_id:str}/duplicate",
        sync_to_thread=True,
        summary="Copy a template: same variants, each with a draft of its newest version",
    )
    def duplicate(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        data: Annotated[
            DuplicateIn,
            Body(examples=[Example(summary="Copy", value={"name": "Referral invite (copy)"})]),
        ],
    ) -> TemplateDetailOut:
        with db.session() as session:
            copy = duplicate_template(
                session, caller.project_id, template_id, name=data.name, actor=caller.actor
            )
            return _detail_out(get_template_detail(session, caller.project_id, copy.id))

    @delete("/{template_id:str}", sync_to_thread=True, status_code=204, summary="Archive")
    def archive(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
    ) -> None:
        with db.session() as session:
            archive_template(session, caller.project_id, template_id)

    @post(
        "/{template_id:str}/versions",
        sync_to_thread=True,
        summary="Save a new draft version (creates the variant for a new key)",
    )
    def add_version(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        data: Annotated[
            VersionIn,
            Body(
                examples=[Example(summary="A Brazilian Portuguese variant", value=VERSION_EXAMPLE)]
            ),
        ],
    ) -> SavedVersionOut:
        with db.session() as session:
            saved = add_version(
                session,
                caller.project_id,
                template_id,
                _version_input(data, body=data.body, subject=data.subject, note=data.note),
                campaign_id=data.campaign_id,
                segment_id=data.segment_id,
                locale=data.locale,
                actor=caller.actor,
                base_version_id=data.base_version_id or None,
            )
            return _saved_out(saved)

    @get(
        "/{template_id:str}/versions/{version_id:str}",
        sync_to_thread=True,
        summary="One version with its source",
    )
    def version(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        version_id: FromPath[str],
    ) -> VersionOut:
        with db.reader() as session:
            version = get_version(session, caller.project_id, template_id, version_id)
            return _version_out(version, _variant_of(session, version))

    @post(
        "/{template_id:str}/publish",
        sync_to_thread=True,
        status_code=200,
        summary="Make a version live for its variant (requires a clean check)",
    )
    def publish(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        data: Annotated[
            PublishIn,
            Body(examples=[Example(summary="Publish", value={"version_id": "tver_01hx..."})]),
        ],
    ) -> VersionOut:
        with db.session() as session:
            variant, version = publish_version(
                session,
                caller.project_id,
                template_id,
                data.version_id,
                actor=caller.actor,
                base_version_id=data.base_version_id or None,
            )
            return _version_out(version, variant)

    @post(
        "/{template_id:str}/versions/{version_id:str}/restore",
        sync_to_thread=True,
        summary="Save a new draft copying an older version; optionally publish it",
    )
    def restore(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        version_id: FromPath[str],
        data: Annotated[
            RestoreIn | None,
            Body(examples=[Example(summary="Roll back now", value={"publish": True})]),
        ] = None,
    ) -> SavedVersionOut:
        options = data or RestoreIn()
        with db.session() as session:
            saved = restore_version(
                session,
                caller.project_id,
                template_id,
                version_id,
                publish=options.publish,
                note=options.note,
                actor=caller.actor,
            )
            return _saved_out(saved)

    @get(
        "/{template_id:str}/versions/{version_id:str}/compare",
        sync_to_thread=True,
        summary="Compare a version with the live version of its variant",
    )
    def compare(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        version_id: FromPath[str],
    ) -> CompareOut:
        with db.reader() as session:
            comparison = compare_version(session, caller.project_id, template_id, version_id)
            variant = _variant_of(session, comparison.version)
            return CompareOut(
                version=_version_out(comparison.version, variant),
                live=_version_out(comparison.live, variant) if comparison.live else None,
                diffs=comparison.diffs,
            )

    @get(
        "/{template_id:str}/resolve",
        sync_to_thread=True,
        summary="Which variant a send would use for a campaign, segments and locale",
    )
    def resolve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        template_id: FromPath[str],
        campaign_id: FromQuery[str | None] = None,
        segment_id: Annotated[
            list[str] | None,
            QueryParameter(description="The recipient's segments in priority order (repeat)"),
        ] = None,
        locale: FromQuery[str | None] = None,
    ) -> ResolveOut:
        with db.reader() as session:
            asked = check_resolve_input(
                session,
                caller.project_id,
                template_id,
                campaign_id=campaign_id,
                segment_ids=segment_id or [],
                locale=locale,
                known_campaign=False,
            )
            try:
                variant, _live = resolve_template(
                    session,
                    caller.project_id,
                    template_id,
                    campaign_id=asked.campaign_id,
                    segment_ids=asked.segment_ids,
                    locale=asked.locale,
                )
            except NoLiveVersionError as error:
                return ResolveOut(variant=None, reason=str(error))
            detail = next(
                d
                for d in get_template_detail(session, caller.project_id, template_id).variants
                if d.variant.id == variant.id
            )
            return ResolveOut(variant=_variant_out(detail))
