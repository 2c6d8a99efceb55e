"""From stored versions to messages: source checks, variant resolution, cached renders, contexts.

The delivery engine calls `resolve_template` then `render_version`; both work on immutable
versions, so the process-wide compiled cache, keyed by version id, never goes stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from distribution.customers.store import get_customer
from distribution.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from distribution.models import (
    CustomerLike,
    MessageTemplate,
    Project,
    TemplateVariant,
    TemplateVersion,
    given_names,
)
from distribution.storage.project_rows import project_row
from distribution.template_store.render_pool import render_pool
from templates import (
    CompiledCache,
    CompiledEmail,
    CompiledSms,
    EmailPreview,
    EmailSource,
    PreviewError,
    RenderedEmail,
    RenderedSms,
    RenderMode,
    SmsPreview,
    SmsSource,
    TemplateError,
    Variant,
    ab_arm,
    compile_email,
    compile_sms,
    preview_email_compiled,
    preview_sms,
    resolve_variant,
    sample_context,
)
from templates.checks import (
    Problem,
    VariableUse,
    clipping_problem,
    format_problem,
    inbox_problems,
    mjml_problems,
    source_parts,
    variable_problems,
    variable_uses,
)

__all__ = [
    "COMPILED",
    "CheckedPreview",
    "LiveTemplate",
    "NoLiveVersionError",
    "SourceCheck",
    "build_context",
    "check_source",
    "choose_live_version",
    "compile_version",
    "customer_variables",
    "load_live_template",
    "merge_context",
    "preview_checked",
    "preview_checked_in_process",
    "preview_context",
    "render_version",
    "resolve_template",
    "sample_with_qr",
    "source_of",
]

#: Compiled versions of this process. Versions never change, so entries never go stale.
COMPILED: CompiledCache[CompiledEmail | CompiledSms] = CompiledCache(maxsize=512)

_UNSUBSCRIBE = re.compile(r"links\s*\.\s*unsubscribe_url|links\s*\[\s*['\"]unsubscribe_url")
# A link inside a Jinja or HTML comment never reaches the recipient.
_COMMENTS = re.compile(r"\{#.*?#\}|<!--.*?-->", re.DOTALL)


class NoLiveVersionError(ConflictError):
    """The template cannot be sent: archived, or no live variant fits the recipient."""


def source_of(version: TemplateVersion) -> EmailSource | SmsSource:
    """The templates-package source a stored version holds (body format "text" is SMS)."""
    if version.body_format == "text":
        return SmsSource(body=version.body, gsm_safe=version.gsm_safe)
    return EmailSource(
        subject=version.subject or "",
        body=version.body,
        body_format="html" if version.body_format == "html" else "mjml",
        text_body=version.text_body,
    )


def compile_version(version: TemplateVersion) -> CompiledEmail | CompiledSms:
    """The compiled version from the process cache, compiling it on first use.

    Raises:
        TemplateError: The version does not compile (only drafts can be in that state).
    """
    source = source_of(version)
    if isinstance(source, SmsSource):
        sms = source
        return COMPILED.get_or_compile(version.id, lambda: compile_sms(sms))
    email = source
    pool = render_pool()
    # MJML and inlining of the source, and of each slow-path recipient's rendered body, run in
    # the pool: a source can crash the native code under them. The Jinja render stays here.
    return COMPILED.get_or_compile(
        version.id,
        lambda: compile_email(email, stage=pool.compile_email_html, convert=pool.body_to_html),
    )


def render_version(
    version: TemplateVersion, context: Mapping[str, Any], mode: RenderMode = "send"
) -> RenderedEmail | RenderedSms:
    """Render a stored version for one recipient (compiled once per process).

    Send mode is strict: `MissingVariablesError.missing` names every absent variable.

    Raises:
        TemplateError: Compile or render failure (`MissingVariablesError`, `RenderLimitError`,
            `HeaderInjectionError`, ...).
    """
    return compile_version(version).render(context, mode=mode)


@dataclass(frozen=True)
class SourceCheck:
    """What a save found: `errors` block publishing, `warnings` do not.

    `notes` are the warnings about the source itself with their code and line (MJML tags and
    attributes, unknown variables, images without alt, links without text); their messages
    are in `warnings` too.
    """

    errors: list[PreviewError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class CheckedPreview:
    """A preview with the caller's sample data, and the check Publish would make.

    `notes` are the warnings about this sample data: values missing or null, and the final
    HTML over Gmail's clipping size.
    """

    shown: EmailPreview | SmsPreview
    check: SourceCheck
    notes: list[Problem] = field(default_factory=list)


def check_source(source: EmailSource | SmsSource, *, category: str) -> SourceCheck:
    """Check a source the way a save and Publish do: syntax, sandbox, sample render, rules.

    Its `errors` are every reason Publish refuses a version; the editor's preview runs this
    same check (`preview_checked`), so what it lists predicts Publish. The check runs in the
    render pool: the source is not vetted yet.
    """
    try:
        return render_pool().call(_check_source_here, source, category)
    except TemplateError as error:
        return SourceCheck([PreviewError.from_error(error)], [])


def preview_checked(
    source: EmailSource | SmsSource, context: Mapping[str, Any], *, category: str
) -> CheckedPreview:
    """Render with the caller's sample data and run `check_source`, in one render-pool call."""
    try:
        return render_pool().call(_preview_checked_here, source, dict(context), category)
    except TemplateError as error:
        problem = PreviewError.from_error(error)
        shown = (
            EmailPreview(errors=[problem])
            if isinstance(source, EmailSource)
            else SmsPreview(errors=[problem])
        )
        return CheckedPreview(shown, SourceCheck([problem], []))


def preview_checked_in_process(
    source: EmailSource | SmsSource, context: Mapping[str, Any], *, category: str
) -> CheckedPreview:
    """`preview_checked` in this process, for a caller already isolated (a benchmark, a worker).

    Raises:
        TemplateError: A limit broke (in the pool, the worker reports it instead).
    """
    return _preview_checked_here(source, dict(context), category)


def _preview_checked_here(
    source: EmailSource | SmsSource, context: dict[str, Any], category: str
) -> CheckedPreview:
    uses = variable_uses(source_parts(source))  # parsed once, for the check and the notes
    shown: EmailPreview | SmsPreview
    if isinstance(source, SmsSource):
        shown = preview_sms(source, context)
        check = _check_source_here(source, category, uses=uses)
    else:
        # One compile for both renders: the caller's sample, and the schema's for the check.
        shown, sample = preview_email_compiled(source, [context, sample_context()])
        check = _check_source_here(source, category, sample, uses=uses)
    notes = [
        p for p in variable_problems(uses, context, shown.missing) if p.code != "unknown-variable"
    ]
    if isinstance(shown, EmailPreview) and shown.html:
        clipped = clipping_problem(shown.html)
        if clipped is not None:
            notes.append(clipped)
    return CheckedPreview(shown, check, notes)


def _source_notes(source: EmailSource | SmsSource, uses: list[VariableUse]) -> list[Problem]:
    """Warnings about the source itself, whatever the data: MJML, variables, inbox rules."""
    notes = []
    if isinstance(source, EmailSource):
        notes = mjml_problems(source.body) if source.body_format == "mjml" else []
        wrong_format = format_problem(source.body, source.body_format)
        notes += [wrong_format] if wrong_format else []
        notes += inbox_problems(source.body)
    notes += [p for p in variable_problems(uses, {}, []) if p.code in _SOURCE_VARIABLE_CODES]
    return notes


# Variable warnings that hold whatever the data: the name itself is the problem.
_SOURCE_VARIABLE_CODES = frozenset({"unknown-variable", "deprecated-variable"})


def _check_source_here(
    source: EmailSource | SmsSource,
    category: str,
    sample_shown: EmailPreview | None = None,
    *,
    uses: list[VariableUse] | None = None,
) -> SourceCheck:
    """The check; `sample_shown` is the email already previewed with `sample_context()`, `uses`
    the variables its parts read (both found here when not given)."""
    if isinstance(source, SmsSource):
        sms = preview_sms(source, sample_context())
        errors, missing, warnings = sms.errors, sms.missing, list(sms.warnings)
    else:
        # Compiled as a send compiles it, then rendered with the schema's sample: any error a
        # send of it would meet with complete data.
        email = sample_shown or preview_email_compiled(source, [sample_context()])[0]
        errors, missing, warnings = email.errors, email.missing, list(email.warnings)
    if missing:
        warnings.append(
            "not in the sample data: "
            + ", ".join(missing)
            + " (a send fails for a recipient without them; use `| default(...)` or `{% if %}`)"
        )
    if (
        category == "marketing"
        and isinstance(source, EmailSource)
        and not _UNSUBSCRIBE.search(_COMMENTS.sub("", source.body + (source.text_body or "")))
    ):
        errors = [
            *errors,
            PreviewError(
                "body",
                "a marketing email must contain an unsubscribe link: {{ links.unsubscribe_url }}",
                code="unsubscribe-link",
            ),
        ]
    if isinstance(source, EmailSource) and not source.subject.strip():
        errors = [*errors, PreviewError("subject", "the subject is empty", code="empty-subject")]
    notes = _source_notes(source, uses if uses is not None else variable_uses(source_parts(source)))
    warnings.extend(_said(note) for note in notes)
    return SourceCheck(list(errors), warnings, notes)


def _said(note: Problem) -> str:
    return f"line {note.line}: {note.message}" if note.line is not None else note.message


def _segment_of_key(variant_key: str) -> str:
    return variant_key.split("|")[1] if variant_key.count("|") == 2 else ""


@dataclass(frozen=True)
class LiveTemplate:
    """What sends of one template need, loaded once: the template row and its live variants.

    The rows belong to the loading session; a cache shares a detached copy (`detached`).
    """

    template: MessageTemplate
    candidates: tuple[Variant[tuple[TemplateVariant, TemplateVersion]], ...]
    # The versions and weights of each variant running an A/B test, by variant id.
    arms: Mapping[str, tuple[tuple[TemplateVersion, int], ...]] = field(default_factory=dict)


def load_live_template(session: Session, project_id: str, template_id: str) -> LiveTemplate:
    """The template and every variant with a live version, with that version (two queries).

    Raises:
        NotFoundError: No such template in the project.
    """
    template = project_row(session, MessageTemplate, project_id, template_id, "template")
    rows = session.exec(
        select(TemplateVariant, TemplateVersion)
        .join(TemplateVersion, col(TemplateVersion.id) == col(TemplateVariant.live_version_id))
        .where(TemplateVariant.template_id == template_id)
        .order_by(col(TemplateVariant.id))
    ).all()
    candidates = tuple(
        Variant((v, version), campaign_id=v.campaign_id, segment_id=v.segment_id, locale=v.locale)
        for v, version in rows
        # A variant whose segment was deleted keeps the segment in its key; it targets nobody.
        if v.segment_id is not None or not _segment_of_key(v.variant_key)
    )
    return LiveTemplate(template, candidates, _arms(session, [v for v, _ in rows]))


def _arms(
    session: Session, variants: Sequence[TemplateVariant]
) -> dict[str, tuple[tuple[TemplateVersion, int], ...]]:
    tested = [v for v in variants if v.ab_arms]
    ids = {arm["version_id"] for v in tested for arm in v.ab_arms or []}
    if not ids:
        return {}
    versions = {
        v.id: v
        for v in session.exec(select(TemplateVersion).where(col(TemplateVersion.id).in_(ids)))
    }
    return {
        v.id: tuple((versions[arm["version_id"]], int(arm["weight"])) for arm in v.ab_arms or [])
        for v in tested
    }


def choose_live_version(
    live: LiveTemplate,
    *,
    campaign_id: str | None,
    segment_ids: Sequence[str],
    locale: str | None,
    customer_id: str | None = None,
) -> tuple[TemplateVariant, TemplateVersion]:
    """The variant and version a send uses (see `templates.resolve_variant` for the order):
    the live version, or the customer's arm of the variant's A/B test.

    Raises:
        NoLiveVersionError: The template is archived, or no live variant fits.
    """
    template_id = live.template.id
    if live.template.archived_at is not None:
        raise NoLiveVersionError(f"template {template_id!r} is archived")
    chosen = resolve_variant(
        live.candidates, campaign_id=campaign_id, segment_ids=list(segment_ids), locale=locale
    )
    if chosen is None:
        raise NoLiveVersionError(
            f"template {template_id!r} has no live variant for campaign={campaign_id!r}, "
            f"segments={list(segment_ids)!r}, locale={locale!r}"
        )
    variant, live_version = chosen.template
    arms = live.arms.get(variant.id)
    if arms and customer_id is not None:
        picked = ab_arm(variant.id, customer_id, [weight for _version, weight in arms])
        return variant, arms[picked][0]
    return variant, live_version


def resolve_template(
    session: Session,
    project_id: str,
    template_id: str,
    *,
    campaign_id: str | None,
    segment_ids: Sequence[str],
    locale: str | None,
) -> tuple[TemplateVariant, TemplateVersion]:
    """The variant and live version a send uses (see `templates.resolve_variant` for the order).

    Only variants with a live version compete, so an unpublished new variant never blocks sends.

    Raises:
        NotFoundError: No such template in the project.
        NoLiveVersionError: The template is archived, or no live variant fits.
    """
    return choose_live_version(
        load_live_template(session, project_id, template_id),
        campaign_id=campaign_id,
        segment_ids=segment_ids,
        locale=locale,
    )


def _first_name(customer: CustomerLike) -> str | None:
    meta = customer.meta if isinstance(customer.meta, dict) else None
    return given_names(customer.name, meta)[0]


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    # Absent rather than None: None would print "None", absent makes a send name the gap.
    return {key: value for key, value in values.items() if value is not None}


def customer_variables(customer: CustomerLike) -> dict[str, Any]:
    """The `customer` variable for a stored customer (fields it lacks are left out)."""
    address = _present(
        {
            "line_1": customer.address_line_1,
            "line_2": customer.address_line_2,
            "city": customer.address_city,
            "postal_code": customer.address_postal_code,
            "state": customer.address_state,
            "country": customer.address_country,
        }
    )
    variables = _present(
        {
            "id": customer.id,
            "source_id": customer.source_id,
            "name": customer.name,
            "first_name": _first_name(customer),
            "email": customer.email,
            "phone": customer.phone,
            "locale": customer.locale,
            "timezone": customer.timezone,
        }
    )
    if address:
        variables["address"] = address
    variables["metadata"] = dict(customer.meta or {})
    return variables


def merge_context(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra` over `base`: nested objects merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_context(current, value)
        else:
            merged[key] = value
    return merged


def build_context(
    customer: CustomerLike, *, project: Project, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The render context for one recipient: `customer` and `project` from the database, then
    `extra` (code, reward, referrer, campaign, order, event, links, ...) merged over them.

    `customer.first_name` is `metadata.first_name` when set, else the first word of the name.
    """
    base: dict[str, Any] = {
        "customer": customer_variables(customer),
        "project": _present({"name": project.name, "postal_address": project.postal_address}),
    }
    return merge_context(base, extra or {})


def sample_with_qr(qr_url: Callable[[str], str] | None) -> dict[str, Any]:
    """`sample_context()` whose `code.qr_url` is the QR image the service serves for the
    sample code (`LinkSettings.qr_url`), so a preview shows a real image: the schema's example
    is a documentation host that does not exist."""
    context = sample_context()
    if qr_url is not None:
        context["code"]["qr_url"] = qr_url(str(context["code"]["code"]))
    return context


def preview_context(
    session: Session,
    project_id: str,
    *,
    customer_id: str | None = None,
    sample: Mapping[str, Any] | None = None,
    qr_url: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Sample data for the editor: `sample_with_qr(qr_url)`, the real project, then a stored
    customer (by id or source_id; it replaces the sample customer whole, so its gaps show as
    missing), then the inline `sample` merged over everything.

    Raises:
        InvalidInputError: `customer_id` names no live customer of the project.
    """
    context = sample_with_qr(qr_url)
    project = session.get(Project, project_id)
    if project is not None:
        context = merge_context(
            context,
            {"project": _present({"name": project.name, "postal_address": project.postal_address})},
        )
    if customer_id is not None:
        try:
            if "\x00" in customer_id:  # PostgreSQL refuses NUL in a query; no id holds one
                raise NotFoundError("customer", customer_id)
            customer = get_customer(session, project_id, customer_id)
        except NotFoundError:
            raise InvalidInputError(
                [FieldError("customer_id", "no such customer in this project")]
            ) from None
        context["customer"] = customer_variables(customer)
    return merge_context(context, sample or {})
