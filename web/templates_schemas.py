"""Request and response bodies of ``/v1/templates``; the editor's preview answers ``PreviewOut``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

__all__ = [
    "CheckProblemOut",
    "CompareOut",
    "DuplicateIn",
    "PreviewIn",
    "PreviewOut",
    "ProblemOut",
    "PublishIn",
    "ResolveOut",
    "RestoreIn",
    "SavedVersionOut",
    "SmsOut",
    "TemplateDetailOut",
    "TemplateIn",
    "TemplateList",
    "TemplateOut",
    "TemplatePatchIn",
    "VariablesOut",
    "VariantOut",
    "VersionIn",
    "VersionOut",
    "VersionSummaryOut",
]


class ProblemOut(msgspec.Struct):
    """A template problem: the part (subject, body, text), 1-based line and column when known."""

    part: str | None
    message: str
    line: int | None = None
    column: int | None = None


class VersionOut(msgspec.Struct):
    """An immutable version; ``status`` is live, draft (never published) or retired."""

    id: str
    template_id: str
    variant_id: str
    number: int
    status: str
    subject: str | None
    body: str
    body_format: str
    text_body: str | None
    gsm_safe: bool
    note: str | None
    created_by: str | None
    created_at: datetime
    published_at: datetime | None
    published_by: str | None
    object: str = "template_version"


class VersionSummaryOut(msgspec.Struct):
    """A row of the version history: who saved it, when, and whether it went live."""

    id: str
    variant_id: str
    number: int
    status: str
    note: str | None
    created_by: str | None
    created_at: datetime
    published_at: datetime | None
    published_by: str | None


class VariantOut(msgspec.Struct):
    """A variant (null keys mean "any") with its live version and newest unpublished draft."""

    id: str
    campaign_id: str | None
    segment_id: str | None
    locale: str | None
    live_version: VersionOut | None
    latest_draft: VersionOut | None
    object: str = "template_variant"


class TemplateOut(msgspec.Struct):
    """A template in a listing; ``status`` is live, draft or archived."""

    id: str
    name: str
    channel: str
    category: str
    description: str | None
    status: str
    variants_count: int
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    object: str = "template"


class TemplateDetailOut(msgspec.Struct):
    """A template with its variants and version history (newest first).

    On create, ``errors`` and ``warnings`` are the first version's check.
    """

    id: str
    name: str
    channel: str
    category: str
    description: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    variants: list[VariantOut]
    versions: list[VersionSummaryOut]
    errors: list[ProblemOut] = []
    warnings: list[str] = []
    object: str = "template"


class TemplateList(msgspec.Struct):
    """A page of templates, most recently edited first."""

    templates: list[TemplateOut]
    has_more: bool
    object: str = "list"


class SavedVersionOut(msgspec.Struct):
    """A saved version and its check: ``errors`` block publishing, ``warnings`` do not."""

    version: VersionOut
    errors: list[ProblemOut]
    warnings: list[str]
    publishable: bool


class TemplateIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new template; the source fields make its first draft (a starter without ``body``)."""

    name: str
    channel: Literal["email", "sms"]
    category: Literal["transactional", "marketing"]
    description: str | None = None
    subject: str | None = None
    body: str | None = None
    body_format: Literal["mjml", "html", "text"] | None = None
    text_body: str | None = None
    gsm_safe: bool = False


class VersionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new draft for the variant (campaign_id, segment_id, locale); absent keys mean "any"."""

    body: str
    subject: str | None = None
    body_format: Literal["mjml", "html", "text"] | None = None
    text_body: str | None = None
    gsm_safe: bool = False
    note: str | None = None
    campaign_id: str | None = None
    segment_id: str | None = None
    locale: str | None = None
    base_version_id: str | None = None
    """The variant's newest version you started from: a newer save meanwhile makes a 409."""


class TemplatePatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """Rename a template or change its description; absent fields stay as they are."""

    name: str | None = None
    description: str | None = None


class DuplicateIn(msgspec.Struct, forbid_unknown_fields=True):
    """The copy's name."""

    name: str


class PublishIn(msgspec.Struct, forbid_unknown_fields=True):
    """The version to make live for its variant."""

    version_id: str
    base_version_id: str | None = None
    """The variant's newest version you have seen: a newer save meanwhile makes a 409."""


class RestoreIn(msgspec.Struct, forbid_unknown_fields=True):
    """Restore options: publish the copy at once, and a note for the history."""

    publish: bool = False
    note: str | None = None


class PreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    """An unsaved source and where its sample data comes from.

    The context is the schema's sample data, the caller's project, then the stored customer
    ``customer_id`` (our id or your source_id) if given, then ``sample`` merged over all.
    """

    channel: Literal["email", "sms"]
    body: str
    subject: str | None = None
    body_format: Literal["mjml", "html", "text"] | None = None
    text_body: str | None = None
    gsm_safe: bool = False
    sample: dict[str, Any] | None = None
    customer_id: str | None = None
    category: Literal["transactional", "marketing"] | None = None
    """Which Publish rules the problems list checks; taken from ``template_id`` when given,
    else "transactional"."""
    template_id: str | None = None


class SmsOut(msgspec.Struct):
    """How an SMS travels: GSM-7 or UCS-2, billed segments, length in septets or code units;
    ``parts`` is the body cut where each billed segment ends."""

    body: str
    encoding: str
    segments: int
    length: int
    ucs2_characters: list[str]
    parts: list[str]
    #: The Unicode name of each of ``ucs2_characters`` (its code point when it has none).
    ucs2_names: list[str]


class CheckProblemOut(msgspec.Struct):
    """One problem of a preview: ``error`` blocks Publish, ``warning`` does not.

    ``code`` is a stable slug (docs/templates.md lists them); ``part`` is subject, body,
    text_body or sms; ``line`` and ``column`` are 1-based in that part, null when unknown.
    """

    severity: Literal["error", "warning"]
    code: str
    part: str | None
    message: str
    line: int | None = None
    column: int | None = None


class PreviewOut(msgspec.Struct):
    """A rendered preview; a template error is reported in ``errors``, never as a failure.

    ``problems`` lists every problem with its code and place; its errors are exactly the
    reasons Publish would refuse this source (the same check runs). ``errors``, ``warnings``
    and ``missing`` are the older, flat view of the same render. ``preheader`` is the text an
    inbox shows after the subject (email only).
    """

    subject: str | None
    html: str | None
    text: str | None
    sms: SmsOut | None
    missing: list[str]
    warnings: list[str]
    errors: list[ProblemOut]
    problems: list[CheckProblemOut] = []
    preheader: str | None = None


class CompareOut(msgspec.Struct):
    """A version beside the live version of its variant; a unified diff per changed part."""

    version: VersionOut
    live: VersionOut | None
    diffs: dict[str, str]


class ResolveOut(msgspec.Struct):
    """The variant a send would use, or null with the reason."""

    variant: VariantOut | None
    reason: str | None = None


class VariablesOut(msgspec.Struct):
    """The variables templates can use (with examples) and the filters they can apply."""

    variables: dict[str, Any]
    filters: list[dict[str, Any]]
