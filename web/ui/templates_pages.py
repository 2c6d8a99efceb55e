"""Template pages: the list, one template's variants and versions, the editor of a variant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from distribution.analytics.ab_tests import ArmResult, ab_results
from distribution.codes.campaigns import list_campaigns
from distribution.customers.segments import list_segments
from distribution.errors import NotFoundError
from distribution.models import TemplateVariant, TemplateVersion
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.template_store import sample_with_qr
from distribution.template_store.store import (
    get_template_detail,
    get_version,
    list_templates,
    version_status,
)
from templates import FILTER_SCHEMA, VARIABLE_SCHEMA
from web.ui.feeds_views import revenue_text
from web.ui.pages import page
from web.ui.session import UiUser

__all__ = ["TemplatePagesController", "version_json"]


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def variant_label(
    variant: TemplateVariant,
    segment_names: dict[str, str],
    campaign_names: dict[str, str] | None = None,
) -> str:
    """How a person reads a variant's targeting: "default" or "campaign X · segment Y · pt-BR"."""
    parts = []
    if variant.campaign_id:
        name = (campaign_names or {}).get(variant.campaign_id, variant.campaign_id)
        parts.append(f"campaign {name}")
    if variant.segment_id:
        parts.append(f"segment {segment_names.get(variant.segment_id, variant.segment_id)}")
    if variant.locale:
        parts.append(variant.locale)
    return " · ".join(parts) or "default"


def version_json(version: TemplateVersion, variant: TemplateVariant) -> dict[str, Any]:
    """A version as the editor's history shows it."""
    return {
        "id": version.id,
        "number": version.number,
        "status": version_status(version, variant),
        "note": version.note,
        "created_by": version.created_by,
        "created_at": _stamp(version.created_at),
        "published_by": version.published_by,
        "published_at": _stamp(version.published_at),
    }


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def _test_view(variant: TemplateVariant, results: list[ArmResult]) -> dict[str, Any]:
    """A running A/B test as the template's page shows it: each arm's share and figures."""
    weights = sum(r.weight for r in results)
    arms = []
    for result in results:
        interval = result.conversion_interval
        rate = _percent(result.conversion_rate)
        arms.append(
            {
                "version_id": result.version_id,
                "number": result.number,
                "share": f"{100 * result.weight / weights:.0f}%",
                "stats": result.stats,
                "conversion": f"{rate} ({_percent(interval[0])} to {_percent(interval[1])})"
                if interval
                else rate,
                "revenue": revenue_text(result.stats["revenue"]),
            }
        )
    return {"variant": variant, "started": _stamp(variant.ab_started_at), "arms": arms}


def source_json(version: TemplateVersion | None, channel: str) -> dict[str, Any]:
    """The editable parts of a version (empty parts for a variant without any)."""
    if version is None:
        return {
            "subject": "" if channel == "email" else None,
            "body": "",
            "body_format": "mjml" if channel == "email" else "text",
            "text_body": None,
            "gsm_safe": False,
        }
    return {
        "subject": version.subject,
        "body": version.body,
        "body_format": version.body_format,
        "text_body": version.text_body,
        "gsm_safe": version.gsm_safe,
    }


class TemplatePagesController(Controller):
    """Pages about templates."""

    path = "/templates"

    @get("/", sync_to_thread=True)
    def templates(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        q: FromQuery[str] = "",
        channel: FromQuery[str] = "",
        status: FromQuery[str] = "",
        offset: FromQuery[int] = 0,
    ) -> Template:
        """Templates, most recently edited first, with search and filters."""
        with db.reader() as tx:
            found = list_templates(
                tx,
                user.project_id,
                q=q or None,
                channel=channel if channel in ("email", "sms") else None,
                status=status if status in ("live", "draft", "archived") else None,
                offset=max(0, offset),
            )
        return page(
            request,
            "templates.html",
            user,
            section="templates",
            q=q,
            channel=channel,
            status=status,
            rows=found.templates,
            has_more=found.has_more,
            next_offset=max(0, offset) + len(found.templates),
        )

    @get("/{template_id:str}", sync_to_thread=True)
    def template(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        template_id: FromPath[str],
    ) -> Template:
        """One template: its variants (live and draft), its whole version history, and (for
        editors) rename, duplicate, archive and a new variant; the page script acts via /ui/v1."""
        with db.reader() as tx:
            detail = get_template_detail(tx, user.project_id, template_id)
            segments = list_segments(tx, user.project_id)
            campaigns = list_campaigns(tx, user.project_id)
            tests = [
                _test_view(*ab_results(tx, user.project_id, template_id, d.variant.id))
                for d in detail.variants
                if d.variant.ab_arms
            ]
        names = {s.id: s.name for s in segments}
        campaign_names = {c.id: c.name for c in campaigns}
        variants = {d.variant.id: d.variant for d in detail.variants}
        history = [
            {
                **version_json(v, variants[v.variant_id]),
                "variant": variant_label(variants[v.variant_id], names, campaign_names),
                "variant_id": v.variant_id,
            }
            for v in detail.versions
            if v.variant_id in variants
        ]
        template = detail.template
        # A new variant starts from the default variant's newest source (else the newest one).
        default = next((d for d in detail.variants if d.variant.variant_key == "||"), None)
        own = [v for v in detail.versions if default and v.variant_id == default.variant.id]
        start = own[0] if own else (detail.versions[0] if detail.versions else None)
        data = {
            "id": template.id,
            "name": template.name,
            "channel": template.channel,
            "start_source": source_json(start, template.channel),
            "variants": [
                {
                    "id": d.variant.id,
                    "campaign_id": d.variant.campaign_id,
                    "segment_id": d.variant.segment_id,
                    "locale": d.variant.locale,
                }
                for d in detail.variants
            ],
            # What the A/B test form offers: each variant's versions, newest first.
            "versions": [
                {"id": v["id"], "number": v["number"], "variant_id": v["variant_id"]}
                for v in history
            ],
        }

        return page(
            request,
            "template.html",
            user,
            section="templates",
            detail=detail,
            labels={
                d.variant.id: variant_label(d.variant, names, campaign_names)
                for d in detail.variants
            },
            history=history,
            tests=tests,
            testable=[d.variant for d in detail.variants if d.live is not None],
            segments=segments,
            campaigns=campaigns,
            can_edit=user.can("editor") and template.archived_at is None,
            page_data=data,
        )

    @get("/{template_id:str}/versions/{version_id:str}", sync_to_thread=True)
    def version(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        template_id: FromPath[str],
        version_id: FromPath[str],
    ) -> Template:
        """One version, read only: its source and its preview, with "restore" for editors."""
        with db.reader() as tx:
            detail = get_template_detail(tx, user.project_id, template_id)
            version = get_version(tx, user.project_id, template_id, version_id)
            names = {s.id: s.name for s in list_segments(tx, user.project_id)}
            campaign_names = {c.id: c.name for c in list_campaigns(tx, user.project_id)}
        template = detail.template
        variant = next(d.variant for d in detail.variants if d.variant.id == version.variant_id)
        shown = version_json(version, variant)
        return page(
            request,
            "template_version.html",
            user,
            section="templates",
            template=template,
            version=shown,
            variant=variant,
            variant_label=variant_label(variant, names, campaign_names),
            source=source_json(version, template.channel),
            can_edit=user.can("editor") and template.archived_at is None,
            page_data={
                "template_id": template.id,
                "version_id": version.id,
                "variant_id": variant.id,
                "channel": template.channel,
                "source": source_json(version, template.channel),
            },
        )

    @get("/{template_id:str}/variants/{variant_id:str}", sync_to_thread=True)
    def editor(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        links: NamedDependency[LinkSettings],
        template_id: FromPath[str],
        variant_id: FromPath[str],
    ) -> Template:
        """The editor of one variant, opened on its newest draft, else its live version."""
        with db.reader() as tx:
            detail = get_template_detail(tx, user.project_id, template_id)
            segments = list_segments(tx, user.project_id)
            campaign_names = {c.id: c.name for c in list_campaigns(tx, user.project_id)}
        found = next((d for d in detail.variants if d.variant.id == variant_id), None)
        if found is None:
            raise NotFoundError("template variant", variant_id)
        names = {s.id: s.name for s in segments}
        variant = found.variant
        own = [v for v in detail.versions if v.variant_id == variant.id]
        current = found.latest_draft or found.live or (own[0] if own else None)
        template = detail.template
        editor = {
            "template": {
                "id": template.id,
                "name": template.name,
                "channel": template.channel,
                "category": template.category,
                "archived": template.archived_at is not None,
            },
            "variant": {
                "id": variant.id,
                "label": variant_label(variant, names, campaign_names),
                "campaign_id": variant.campaign_id,
                "segment_id": variant.segment_id,
                "locale": variant.locale,
            },
            "variants": [
                {"id": d.variant.id, "label": variant_label(d.variant, names, campaign_names)}
                for d in detail.variants
            ],
            "source": source_json(current, template.channel),
            "current_version": version_json(current, variant) if current else None,
            "versions": [version_json(v, variant) for v in own],
            "segments": [{"id": s.id, "name": s.name} for s in segments],
            "sample": sample_with_qr(links.qr_url),
            "variables": VARIABLE_SCHEMA,
            "filters": FILTER_SCHEMA,
            "can_edit": user.can("editor") and template.archived_at is None,
            "user_email": user.email,
        }
        return page(
            request,
            "editor.html",
            user,
            section="templates",
            template=template,
            variant_label=variant_label(variant, names, campaign_names),
            editor=editor,
        )
