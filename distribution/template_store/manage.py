"""Renaming and duplicating templates (archiving is `store.archive_template`)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from distribution.errors import FieldError, InvalidInputError
from distribution.models import MessageTemplate, TemplateVariant, TemplateVersion, utcnow
from distribution.storage.db import flush_or_conflict
from distribution.storage.ids import new_id
from distribution.template_store.store import (
    _check_name,
    _refuse_archived,
    _text,
    get_template,
    variant_key,
)

__all__ = ["duplicate_template", "update_template"]


def update_template(
    session: Session,
    project_id: str,
    template_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> MessageTemplate:
    """Rename a template or change its description (None leaves a field as it is)."""
    template = get_template(session, project_id, template_id)
    _refuse_archived(template)
    errors: list[FieldError] = []
    if name is not None:
        name = _check_name(name, errors)
    _text("description", description, 2000, errors)
    if errors:
        raise InvalidInputError(errors)
    if name is not None:
        template.name = name
    if description is not None:
        template.description = description.strip() or None
    template.updated_at = utcnow()
    flush_or_conflict(session, f"a template named {name!r} already exists", template)
    return template


def duplicate_template(
    session: Session, project_id: str, template_id: str, *, name: str, actor: str | None = None
) -> MessageTemplate:
    """A new template with the same channel, category and variants.

    Each variant gets one draft: a copy of its newest version (nothing is live in the copy, so
    sends of it start only when someone publishes).
    """
    original = get_template(session, project_id, template_id)
    errors: list[FieldError] = []
    name = _check_name(name, errors)
    if errors:
        raise InvalidInputError(errors)
    now = utcnow()
    copy = MessageTemplate(
        id=new_id("tpl"),
        project_id=project_id,
        name=name,
        channel=original.channel,
        category=original.category,
        description=original.description,
    )
    flush_or_conflict(session, f"a template named {name!r} already exists", copy)
    variants = session.exec(
        select(TemplateVariant).where(TemplateVariant.template_id == original.id)
    ).all()
    for variant in variants:
        newest = session.exec(
            select(TemplateVersion)
            .where(TemplateVersion.variant_id == variant.id)
            .order_by(col(TemplateVersion.number).desc())
            .limit(1)
        ).first()
        if newest is None:
            continue
        twin = TemplateVariant(
            id=new_id("tvar"),
            project_id=project_id,
            template_id=copy.id,
            campaign_id=variant.campaign_id,
            segment_id=variant.segment_id,
            locale=variant.locale,
            variant_key=variant_key(variant.campaign_id, variant.segment_id, variant.locale),
        )
        session.add(twin)
        session.flush()
        session.add(
            TemplateVersion(
                id=new_id("tver"),
                project_id=project_id,
                template_id=copy.id,
                variant_id=twin.id,
                number=1,
                subject=newest.subject,
                body=newest.body,
                body_format=newest.body_format,
                text_body=newest.text_body,
                gsm_safe=newest.gsm_safe,
                note=f"copied from {original.name} v{newest.number}",
                created_by=actor or None,
                created_at=now,
            )
        )
    session.flush()
    return copy
