"""Message templates, their variants and immutable versions: create, list, edit, publish, restore.

Rules:

* A template has a default variant (no campaign, segment or locale) and may have variants keyed
  by (campaign_id, segment_id, locale); saving a version for a new key creates its variant.
* Versions never change. An edit saves a new version (a draft); publishing makes it the
  variant's live version. Each version is published at most once, so ``published_at/by`` say
  exactly when it went live; to bring back an older one, restore it (a new draft copying it,
  optionally published at once).
* Drafts save even with template errors (returned as `SourceCheck.errors`) so work is never lost;
  publishing requires a clean check, including an unsubscribe link in marketing emails.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import ColumnElement, exists, func, not_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from distribution.accounts.project_cache import changed
from distribution.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from distribution.models import (
    Campaign,
    MessageTemplate,
    Segment,
    TemplateVariant,
    TemplateVersion,
    utcnow,
)
from distribution.storage.db import flush_or_conflict
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row
from distribution.template_store.rendering import (
    SourceCheck,
    check_source,
    compile_version,
    source_of,
)
from templates import EmailSource, PreviewError, SmsSource

__all__ = [
    "MAX_BODY_CHARS",
    "Comparison",
    "ResolveInput",
    "SavedVersion",
    "StaleVersionError",
    "TemplateDetail",
    "TemplatePage",
    "TemplateSummary",
    "VariantDetail",
    "VersionInput",
    "add_version",
    "archive_template",
    "check_resolve_input",
    "compare_version",
    "create_template",
    "get_template",
    "get_template_detail",
    "get_version",
    "list_templates",
    "publish_version",
    "restore_version",
    "validate_source",
    "variant_key",
    "version_status",
]

MAX_BODY_CHARS = 1_000_000
MAX_PAGE = 100
Category = Literal["transactional", "marketing"]
VersionStatus = Literal["live", "draft", "retired"]

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")

_EMAIL_STARTER = EmailSource(
    subject="{{ customer.first_name | default('Hi') }}, here is your code",
    body=(
        "<mjml>\n  <mj-body>\n    <mj-section>\n      <mj-column>\n"
        "        <mj-text>Hi {{ customer.first_name | default('there') }},</mj-text>\n"
        "        <mj-text>Your code: <strong>{{ code.code }}</strong></mj-text>\n"
        '        <mj-text font-size="11px">{{ project.name }} ·'
        ' <a href="{{ links.unsubscribe_url }}">Unsubscribe</a></mj-text>\n'
        "      </mj-column>\n    </mj-section>\n  </mj-body>\n</mjml>\n"
    ),
)
_SMS_STARTER = SmsSource(body="{{ project.name }}: your code is {{ code.code }}")


@dataclass(frozen=True)
class VersionInput:
    """The source of a new version, as an author sends it (checked by `add_version`).

    Email: `subject`, `body` (MJML or HTML, by `body_format`), optional `text_body`.
    SMS: `body` only (`body_format` "text" or None), optionally `gsm_safe`.
    """

    body: str
    subject: str | None = None
    body_format: str | None = None
    text_body: str | None = None
    gsm_safe: bool = False
    note: str | None = None


@dataclass(frozen=True)
class SavedVersion:
    """A version just written, its variant, and what the save check found."""

    version: TemplateVersion
    variant: TemplateVariant
    check: SourceCheck


@dataclass(frozen=True)
class VariantDetail:
    """A variant with the version sends use and the newest unpublished edit."""

    variant: TemplateVariant
    live: TemplateVersion | None
    latest_draft: TemplateVersion | None


@dataclass(frozen=True)
class TemplateDetail:
    """A template, its variants (default first) and every version, newest first."""

    template: MessageTemplate
    variants: list[VariantDetail]
    versions: list[TemplateVersion]
    status: str


@dataclass(frozen=True)
class TemplateSummary:
    """A template in a listing."""

    template: MessageTemplate
    status: str
    variants_count: int


@dataclass(frozen=True)
class TemplatePage:
    """One page of templates, most recently edited first."""

    templates: list[TemplateSummary]
    has_more: bool


@dataclass(frozen=True)
class Comparison:
    """A version beside its variant's live version, with a unified diff per changed part."""

    version: TemplateVersion
    live: TemplateVersion | None
    diffs: dict[str, str] = field(default_factory=dict)


def variant_key(campaign_id: str | None, segment_id: str | None, locale: str | None) -> str:
    """The unique key of a variant within its template (NULLs are never equal in SQL)."""
    return f"{campaign_id or ''}|{segment_id or ''}|{locale or ''}"


def _text(name: str, value: str | None, limit: int, errors: list[FieldError]) -> None:
    if value is None:
        return
    if "\x00" in value:
        errors.append(FieldError(name, "must not contain NUL characters"))
    elif len(value) > limit:
        errors.append(FieldError(name, f"must be at most {limit:,} characters"))


def _check_name(name: str, errors: list[FieldError]) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        errors.append(FieldError("name", "must be 1-200 characters"))
    _text("name", name, 200, errors)
    return name


def _canonical_locale(locale: str) -> str:
    parts = locale.replace("_", "-").split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def validate_source(channel: str, data: VersionInput) -> EmailSource | SmsSource:
    """The source for a channel, or InvalidInputError naming each field that does not fit."""
    errors: list[FieldError] = []
    _text("subject", data.subject, 1000, errors)
    _text("body", data.body, MAX_BODY_CHARS, errors)
    _text("text_body", data.text_body, MAX_BODY_CHARS, errors)
    _text("note", data.note, 500, errors)
    if channel == "sms":
        if data.body_format not in (None, "text"):
            errors.append(FieldError("body_format", 'must be "text" (or absent) for SMS'))
        if data.subject is not None:
            errors.append(FieldError("subject", "SMS templates have no subject"))
        if data.text_body is not None:
            errors.append(FieldError("text_body", "SMS templates have no text part"))
    else:
        if data.body_format not in (None, "mjml", "html"):
            errors.append(FieldError("body_format", 'must be "mjml" or "html" for email'))
        if data.subject is None:
            errors.append(FieldError("subject", "is required for email"))
        if data.gsm_safe:
            errors.append(FieldError("gsm_safe", "applies to SMS templates only"))
    if errors:
        raise InvalidInputError(errors)
    if channel == "sms":
        return SmsSource(body=data.body, gsm_safe=data.gsm_safe)
    return EmailSource(
        subject=data.subject or "",
        body=data.body,
        body_format="html" if data.body_format == "html" else "mjml",
        text_body=data.text_body,
    )


def create_template(
    session: Session,
    project_id: str,
    *,
    name: str,
    channel: str,
    category: str,
    description: str | None = None,
    first_version: VersionInput | None = None,
    actor: str | None = None,
) -> SavedVersion:
    """Create a template with its default variant and a first draft (a starter when not given)."""
    errors: list[FieldError] = []
    name = _check_name(name, errors)
    if channel not in ("email", "sms"):
        errors.append(FieldError("channel", 'must be "email" or "sms"'))
    if category not in ("transactional", "marketing"):
        errors.append(FieldError("category", 'must be "transactional" or "marketing"'))
    _text("description", description, 2000, errors)
    if errors:
        raise InvalidInputError(errors)
    template = MessageTemplate(
        id=new_id("tpl"),
        project_id=project_id,
        name=name,
        channel=channel,
        category=category,
        description=description,
    )
    flush_or_conflict(session, f"a template named {name!r} already exists", template)
    if first_version is None:
        starter = _SMS_STARTER if channel == "sms" else _EMAIL_STARTER
        first_version = VersionInput(
            body=starter.body,
            subject=starter.subject if isinstance(starter, EmailSource) else None,
            note="starter",
        )
    return add_version(session, project_id, template.id, first_version, actor=actor)


def get_template(session: Session, project_id: str, template_id: str) -> MessageTemplate:
    """A template of the project (archived ones included)."""
    return project_row(session, MessageTemplate, project_id, template_id, "template")


def _live_exists() -> ColumnElement[bool]:
    return exists().where(
        col(TemplateVariant.template_id) == col(MessageTemplate.id),
        col(TemplateVariant.live_version_id).is_not(None),
    )


def _status(template: MessageTemplate, has_live: bool) -> str:
    if template.archived_at is not None:
        return "archived"
    return "live" if has_live else "draft"


def list_templates(
    session: Session,
    project_id: str,
    *,
    q: str | None = None,
    channel: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> TemplatePage:
    """Templates, most recently edited first.

    `status`: "live" (a variant has a live version), "draft" (none has), "archived"; by default
    every template that is not archived. `q` searches the name, ignoring case.
    """
    limit = max(1, min(limit, MAX_PAGE))
    has_live = _live_exists().label("has_live")
    statement = select(MessageTemplate, has_live).where(MessageTemplate.project_id == project_id)
    if status == "archived":
        statement = statement.where(col(MessageTemplate.archived_at).is_not(None))
    else:
        statement = statement.where(col(MessageTemplate.archived_at).is_(None))
        if status == "live":
            statement = statement.where(_live_exists())
        elif status == "draft":
            statement = statement.where(not_(_live_exists()))
    if channel:
        statement = statement.where(MessageTemplate.channel == channel)
    if q and q.strip():
        pattern = (
            "%"
            + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        statement = statement.where(func.lower(MessageTemplate.name).like(pattern, escape="\\"))
    statement = (
        statement.order_by(col(MessageTemplate.updated_at).desc(), col(MessageTemplate.id).desc())
        .offset(max(0, offset))
        .limit(limit + 1)
    )
    rows = list(session.exec(statement))
    page = rows[:limit]
    counts = dict(
        session.exec(
            select(TemplateVariant.template_id, func.count())
            .where(col(TemplateVariant.template_id).in_([t.id for t, _ in page]))
            .group_by(col(TemplateVariant.template_id))
        ).all()
    )
    return TemplatePage(
        templates=[
            TemplateSummary(
                template, _status(template, bool(live)), int(counts.get(template.id, 0))
            )
            for template, live in page
        ],
        has_more=len(rows) > limit,
    )


def version_status(version: TemplateVersion, variant: TemplateVariant) -> VersionStatus:
    """ "live" (what sends use), "draft" (never published) or "retired" (was live before)."""
    if variant.live_version_id == version.id:
        return "live"
    return "draft" if version.published_at is None else "retired"


def get_template_detail(session: Session, project_id: str, template_id: str) -> TemplateDetail:
    """A template with its variants (live version and latest draft each) and version history."""
    template = get_template(session, project_id, template_id)
    variants = list(
        session.exec(
            select(TemplateVariant)
            .where(TemplateVariant.template_id == template.id)
            .order_by(col(TemplateVariant.id))
        )
    )
    versions = list(
        session.exec(
            select(TemplateVersion)
            .where(TemplateVersion.template_id == template.id)
            .order_by(col(TemplateVersion.created_at).desc(), col(TemplateVersion.id).desc())
        )
    )
    by_id = {version.id: version for version in versions}
    details = []
    for variant in variants:
        own = [v for v in versions if v.variant_id == variant.id]
        newest = max(own, key=lambda v: v.number, default=None)
        draft = newest if newest and version_status(newest, variant) == "draft" else None
        live = by_id.get(variant.live_version_id or "")
        details.append(VariantDetail(variant, live, draft))
    # The default variant first, then the others in creation order.
    details.sort(key=lambda d: d.variant.variant_key != "||")
    has_live = any(d.live is not None for d in details)
    return TemplateDetail(template, details, versions, _status(template, has_live))


def get_version(
    session: Session, project_id: str, template_id: str, version_id: str
) -> TemplateVersion:
    """One version of a template of the project."""
    template = get_template(session, project_id, template_id)
    version = None
    if "\x00" not in version_id:
        version = session.exec(
            select(TemplateVersion).where(
                TemplateVersion.template_id == template.id, TemplateVersion.id == version_id
            )
        ).first()
    if version is None:
        raise NotFoundError("template version", version_id)
    return version


def _refuse_archived(template: MessageTemplate) -> None:
    if template.archived_at is not None:
        raise ConflictError(f"template {template.id!r} is archived")


def _checked_locale(locale: str | None, errors: list[FieldError]) -> str | None:
    """The canonical form of a locale (pt_br -> pt-BR), None for none; a bad one is an error."""
    locale = (locale or "").strip() or None
    if locale is None:
        return None
    if _LOCALE.match(locale) is None or len(locale) > 35:
        errors.append(FieldError("locale", "must be a BCP 47 language tag such as pt-BR"))
        return None
    return _canonical_locale(locale)


def _segment_exists(session: Session, project_id: str, segment_id: str) -> bool:
    return (
        "\x00" not in segment_id
        and session.exec(
            select(Segment.id).where(Segment.project_id == project_id, Segment.id == segment_id)
        ).first()
        is not None
    )


@dataclass(frozen=True)
class ResolveInput:
    """Who a send would go to, checked: the campaign, the recipient's segments, the locale."""

    campaign_id: str | None
    segment_ids: list[str]
    locale: str | None


def check_resolve_input(
    session: Session,
    project_id: str,
    template_id: str,
    *,
    campaign_id: str | None,
    segment_ids: list[str],
    locale: str | None,
    known_campaign: bool = True,
) -> ResolveInput:
    """The question "which variant would a send use?", checked by the rules a variant's key
    follows (the locale rule and segment check of a save).

    With `known_campaign`, the campaign must be one of the project's or one a variant of the
    template names (variants may be keyed by a campaign id events bring from elsewhere). The
    API leaves it off: an event may carry any campaign id, and asking what it gets is fair.

    Raises:
        InvalidInputError: Naming each field that names nothing (``campaign_id``,
            ``segment_id``, ``locale``).
        NotFoundError: No such template in the project.
    """
    template = get_template(session, project_id, template_id)
    errors: list[FieldError] = []
    campaign_id = (campaign_id or "").strip() or None
    if (
        known_campaign
        and campaign_id is not None
        and not _campaign_known(session, template, campaign_id)
    ):
        errors.append(
            FieldError("campaign_id", "no such campaign in this project, and no variant names it")
        )
    segments = [s.strip() for s in segment_ids if s.strip()]
    if any(not _segment_exists(session, project_id, s) for s in segments):
        errors.append(FieldError("segment_id", "no such segment in this project"))
    canonical = _checked_locale(locale, errors)
    if errors:
        raise InvalidInputError(errors)
    return ResolveInput(campaign_id, segments, canonical)


def _campaign_known(session: Session, template: MessageTemplate, campaign_id: str) -> bool:
    if "\x00" in campaign_id:
        return False
    ours = session.exec(
        select(Campaign.id).where(
            Campaign.project_id == template.project_id, Campaign.id == campaign_id
        )
    ).first()
    if ours is not None:
        return True
    named = session.exec(
        select(TemplateVariant.id).where(
            TemplateVariant.template_id == template.id, TemplateVariant.campaign_id == campaign_id
        )
    ).first()
    return named is not None


def _variant_for(
    session: Session,
    template: MessageTemplate,
    campaign_id: str | None,
    segment_id: str | None,
    locale: str | None,
) -> TemplateVariant:
    errors: list[FieldError] = []
    campaign_id = (campaign_id or "").strip() or None
    segment_id = (segment_id or "").strip() or None
    _text("campaign_id", campaign_id, 200, errors)
    if campaign_id and "|" in campaign_id:
        errors.append(FieldError("campaign_id", 'must not contain "|"'))
    locale = _checked_locale(locale, errors)
    if segment_id is not None and not _segment_exists(session, template.project_id, segment_id):
        errors.append(FieldError("segment_id", "no such segment in this project"))
    if errors:
        raise InvalidInputError(errors)
    key = variant_key(campaign_id, segment_id, locale)
    # FOR UPDATE serialises version numbering per variant on PostgreSQL (SQLite writers queue).
    statement = (
        select(TemplateVariant)
        .where(TemplateVariant.template_id == template.id, TemplateVariant.variant_key == key)
        .with_for_update()
    )
    found = session.exec(statement).first()
    if found is not None:
        return found
    variant = TemplateVariant(
        id=new_id("tvar"),
        project_id=template.project_id,
        template_id=template.id,
        campaign_id=campaign_id,
        segment_id=segment_id,
        locale=locale,
        variant_key=key,
    )
    try:
        with session.begin_nested():
            session.add(variant)
            session.flush()
    except IntegrityError:
        # Another request created the same variant meanwhile; use theirs.
        found = session.exec(statement).first()
        if found is None:
            raise
        return found
    return variant


def _next_number(session: Session, variant: TemplateVariant) -> int:
    highest = session.exec(
        select(func.max(TemplateVersion.number)).where(TemplateVersion.variant_id == variant.id)
    ).one()
    return int(highest or 0) + 1


def _write_version(
    session: Session,
    template: MessageTemplate,
    variant: TemplateVariant,
    source: EmailSource | SmsSource,
    *,
    note: str | None,
    actor: str | None,
) -> TemplateVersion:
    now = utcnow()
    email = source if isinstance(source, EmailSource) else None
    version = TemplateVersion(
        id=new_id("tver"),
        project_id=template.project_id,
        template_id=template.id,
        variant_id=variant.id,
        number=_next_number(session, variant),
        subject=email.subject if email else None,
        body=source.body,
        body_format=email.body_format if email else "text",
        text_body=email.text_body if email else None,
        gsm_safe=isinstance(source, SmsSource) and source.gsm_safe,
        note=note,
        created_by=actor or None,
        created_at=now,
    )
    session.add(version)
    template.updated_at = now
    session.add(template)
    session.flush()
    return version


def add_version(
    session: Session,
    project_id: str,
    template_id: str,
    data: VersionInput,
    *,
    campaign_id: str | None = None,
    segment_id: str | None = None,
    locale: str | None = None,
    actor: str | None = None,
    base_version_id: str | None = None,
) -> SavedVersion:
    """Save a new draft version for the (campaign, segment, locale) variant, creating it if new.

    The draft is saved even when its check finds errors; they come back in `check.errors`.
    With `base_version_id` (the newest version the author started from), a save on top of a
    newer version someone else saved meanwhile is refused (StaleVersionError), never lost.
    """
    template = get_template(session, project_id, template_id)
    _refuse_archived(template)
    source = validate_source(template.channel, data)
    variant = _variant_for(session, template, campaign_id, segment_id, locale)
    if base_version_id is not None:
        _refuse_stale(session, variant, base_version_id)
    version = _write_version(session, template, variant, source, note=data.note, actor=actor)
    return SavedVersion(version, variant, check_source(source, category=template.category))


class StaleVersionError(ConflictError):
    """A save based on a version that is no longer its variant's newest.

    The 409 problem carries `current_version` (the newer source) and `diffs` (per part, from the
    base the author started on to the newer version), so they can merge and save again on top.
    """

    def __init__(
        self, newer: TemplateVersion, base: TemplateVersion | None, variant: TemplateVariant
    ) -> None:
        self.newer = newer
        who = f" by {newer.created_by}" if newer.created_by else ""
        base_label = f"version {base.number}" if base else "your version"
        diffs = {}
        for part in ("subject", "body", "text_body"):
            old_text: str | None = getattr(base, part) if base else None
            new_text: str | None = getattr(newer, part)
            if (old_text or "") != (new_text or ""):
                diffs[part] = _diff(part, old_text, new_text, base_label, f"version {newer.number}")
        super().__init__(
            f"version {newer.number} was saved{who} after the version you started from; "
            "your text was not saved",
            {
                "base_version_id": base.id if base else None,
                "current_version": {
                    "id": newer.id,
                    "number": newer.number,
                    "status": version_status(newer, variant),
                    "created_by": newer.created_by,
                    "created_at": newer.created_at.isoformat(timespec="seconds") + "Z",
                    "subject": newer.subject,
                    "body": newer.body,
                    "body_format": newer.body_format,
                    "text_body": newer.text_body,
                    "gsm_safe": newer.gsm_safe,
                },
                "diffs": diffs,
            },
        )


def _refuse_stale(session: Session, variant: TemplateVariant, base_version_id: str) -> None:
    # The variant row is locked (FOR UPDATE in _variant_for), so no save slips in between.
    newest = session.exec(
        select(TemplateVersion)
        .where(TemplateVersion.variant_id == variant.id)
        .order_by(col(TemplateVersion.number).desc())
        .limit(1)
    ).first()
    if newest is None or newest.id == base_version_id:
        return
    base = session.get(TemplateVersion, base_version_id)
    if base is not None and base.variant_id != variant.id:
        raise InvalidInputError([FieldError("base_version_id", "is a version of another variant")])
    raise StaleVersionError(newest, base, variant)


def _problem_field(problem: PreviewError) -> FieldError:
    name = {"subject": "subject", "text": "text_body", "text_body": "text_body"}.get(
        problem.part or "", "body"
    )
    if problem.line is None:
        return FieldError(name, problem.message)
    message = problem.message.removeprefix(f"line {problem.line}: ")
    return FieldError(name, f"line {problem.line}, column {problem.column}: {message}")


def publish_version(
    session: Session,
    project_id: str,
    template_id: str,
    version_id: str,
    *,
    actor: str | None = None,
    base_version_id: str | None = None,
) -> tuple[TemplateVariant, TemplateVersion]:
    """Make a version its variant's live version.

    With `base_version_id` (the newest version the publisher has seen), publishing is refused
    (StaleVersionError) when someone saved a newer version of the variant meanwhile.

    Raises:
        InvalidInputError: The version has template errors (each names the part, line, column).
        ConflictError: The template is archived, or the version was live before (restore it).
    """
    template = get_template(session, project_id, template_id)
    _refuse_archived(template)
    version = get_version(session, project_id, template_id, version_id)
    variant = session.exec(
        select(TemplateVariant).where(TemplateVariant.id == version.variant_id).with_for_update()
    ).one()
    if base_version_id is not None:
        _refuse_stale(session, variant, base_version_id)
    if variant.live_version_id == version.id:
        return variant, version
    if version.published_at is not None:
        raise ConflictError(
            f"version {version.number} was live before; restore it to publish it again"
        )
    check = check_source(source_of(version), category=template.category)
    if check.errors:
        raise InvalidInputError([_problem_field(problem) for problem in check.errors])
    compile_version(version)  # warm the cache: the first send should not pay for MJML
    now = utcnow()
    version.published_at = now
    version.published_by = actor or None
    variant.live_version_id = version.id
    template.updated_at = now
    session.add_all([version, variant, template])
    session.flush()
    changed(session, project_id)  # sends resolve to the new live version
    return variant, version


def restore_version(
    session: Session,
    project_id: str,
    template_id: str,
    version_id: str,
    *,
    publish: bool = False,
    note: str | None = None,
    actor: str | None = None,
) -> SavedVersion:
    """Save a new draft copying an older version (same variant); with `publish`, make it live.

    When publishing fails the check, nothing is saved (the caller's transaction rolls back).
    """
    template = get_template(session, project_id, template_id)
    _refuse_archived(template)
    old = get_version(session, project_id, template_id, version_id)
    errors: list[FieldError] = []
    _text("note", note, 500, errors)
    if errors:
        raise InvalidInputError(errors)
    variant = session.exec(
        select(TemplateVariant).where(TemplateVariant.id == old.variant_id).with_for_update()
    ).one()
    source = source_of(old)
    version = _write_version(
        session,
        template,
        variant,
        source,
        note=note or f"restored from version {old.number}",
        actor=actor,
    )
    if publish:
        variant, version = publish_version(
            session, project_id, template_id, version.id, actor=actor
        )
    return SavedVersion(version, variant, check_source(source, category=template.category))


def _diff(name: str, old: str | None, new: str | None, old_label: str, new_label: str) -> str:
    # Lines without their ends, joined with one: a last line without a newline (every subject)
    # would otherwise run into the next line of the diff.
    lines = difflib.unified_diff(
        (old or "").splitlines(),
        (new or "").splitlines(),
        fromfile=f"{name} ({old_label})",
        tofile=f"{name} ({new_label})",
        lineterm="",
    )
    return "".join(line + "\n" for line in lines)


def compare_version(
    session: Session, project_id: str, template_id: str, version_id: str
) -> Comparison:
    """A version beside its variant's live version; `diffs` has a unified diff per changed part."""
    version = get_version(session, project_id, template_id, version_id)
    variant = session.get(TemplateVariant, version.variant_id)
    live = (
        session.get(TemplateVersion, variant.live_version_id)
        if variant is not None and variant.live_version_id
        else None
    )
    old_label = f"version {live.number}, live" if live else "nothing live"
    new_label = f"version {version.number}"
    diffs = {}
    for part in ("subject", "body", "text_body"):
        old_text: str | None = getattr(live, part) if live else None
        new_text: str | None = getattr(version, part)
        if (old_text or "") != (new_text or ""):
            diffs[part] = _diff(part, old_text, new_text, old_label, new_label)
    return Comparison(version, live, diffs)


def archive_template(session: Session, project_id: str, template_id: str) -> MessageTemplate:
    """Archive a template: it stops resolving for sends and leaves listings; history stays."""
    template = get_template(session, project_id, template_id)
    if template.archived_at is None:
        template.archived_at = template.updated_at = utcnow()
        session.add(template)
        session.flush()
        changed(session, project_id)  # sends of it now fail
    return template
