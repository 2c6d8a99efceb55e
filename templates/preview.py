"""Preview an unsaved source: never raises for a template problem, returns it as an error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from templates.checks import mjml_structure_error
from templates.emails import (
    compile_email,
    compile_source_templates,
    email_syntax_errors,
    refuse_includes,
    render_source_templates,
)
from templates.errors import (
    HeaderInjectionError,
    InvalidMjmlError,
    MissingVariablesError,
    RenderLimitError,
    TemplateError,
    TemplateSyntaxError,
    UnsafeTemplateError,
)
from templates.protection import protect
from templates.sandbox import RenderLimits
from templates.sms import SmsInfo, compile_sms
from templates.sources import EmailSource, SmsSource

__all__ = [
    "EmailPreview",
    "PreviewError",
    "SmsPreview",
    "preview_email",
    "preview_email_compiled",
    "preview_sms",
]


# The stable code of each kind of error (the problems list of a preview names them).
_CODES: tuple[tuple[type[TemplateError], str], ...] = (
    (TemplateSyntaxError, "syntax-error"),
    (UnsafeTemplateError, "unsafe-template"),
    (InvalidMjmlError, "invalid-mjml"),
    (MissingVariablesError, "missing-variable"),
    (RenderLimitError, "render-limit"),
    (HeaderInjectionError, "subject-line-break"),
)


@dataclass(frozen=True)
class PreviewError:
    """A problem to show the author; line and column are 1-based, None when not about a line.

    `code` is a stable slug of the kind of error (see `_CODES`; publish rules add their own).
    """

    part: str | None
    message: str
    line: int | None = None
    column: int | None = None
    code: str = "render-error"

    @classmethod
    def from_error(cls, error: TemplateError) -> PreviewError:
        """Describe any `TemplateError` (syntax errors keep their position)."""
        code = next((c for kind, c in _CODES if isinstance(error, kind)), "render-error")
        if isinstance(error, TemplateSyntaxError):
            if error.message.startswith("MJML: "):
                code = "invalid-mjml"
            return cls(
                error.part, f"line {error.line}: {error.message}", error.line, error.column, code
            )
        return cls(error.part, error.message, code=code)

    @classmethod
    def at_mjml_break(cls, error: TemplateError, body: str) -> PreviewError:
        """An MJML error placed where the source's nesting breaks: MJML ran on the rendered
        body or on the compiler's protected copy, whose positions are not the author's."""
        broken = mjml_structure_error(body)
        if broken is None:
            return cls.from_error(error)
        line, column, why = broken
        message = error.message if why in error.message else f"{error.message} ({why})"
        return cls(error.part, f"line {line}: {message}", line, column, "invalid-mjml")


@dataclass(frozen=True)
class EmailPreview:
    """What the editor shows for an email; `errors` is empty when it rendered."""

    subject: str = ""
    html: str = ""
    text: str = ""
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[PreviewError] = field(default_factory=list)


@dataclass(frozen=True)
class SmsPreview:
    """What the editor shows for an SMS; `info` is None when it did not render."""

    body: str = ""
    info: SmsInfo | None = None
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[PreviewError] = field(default_factory=list)


def preview_email(
    source: EmailSource, context: Mapping[str, Any], *, limits: RenderLimits | None = None
) -> EmailPreview:
    """Render an unsaved email with sample data, lenient about missing variables.

    Syntax errors of every part come back together in `errors`; so do sandbox refusals and
    limits. Nothing raises for a template problem.
    """
    try:
        refuse_includes(source)
    except TemplateError as error:
        return EmailPreview(errors=[PreviewError.from_error(error)])
    templates, syntax = compile_source_templates(source)
    if templates is None:
        return EmailPreview(errors=[PreviewError.from_error(error) for error in syntax])
    try:
        rendered = render_source_templates(templates, context, mode="preview", limits=limits)
    except InvalidMjmlError as error:
        return EmailPreview(errors=[PreviewError.at_mjml_break(error, source.body)])
    except TemplateError as error:
        return EmailPreview(errors=[PreviewError.from_error(error)])
    warnings = list(rendered.warnings)
    reason = protect(source.body, mjml=source.body_format == "mjml").unsafe_reason
    if reason:
        warnings.append(f"sends of this template will be rendered per recipient because {reason}")
    return EmailPreview(
        rendered.subject, rendered.html, rendered.text, rendered.missing, warnings, []
    )


def preview_email_compiled(
    source: EmailSource,
    contexts: Sequence[Mapping[str, Any]],
    *,
    limits: RenderLimits | None = None,
) -> list[EmailPreview]:
    """Preview an unsaved email once per sample context, compiled once as sends compile it.

    The compile (MJML and inlining, the expensive part) is shared, and each render is the one
    a send makes, so the preview shows what the recipient gets; a second context (the schema's
    sample, for the publish check) costs a fast render, not another MJML pass. Errors as in
    `preview_email`, an MJML error placed where the source's nesting breaks.
    """

    def everywhere(errors: list[PreviewError]) -> list[EmailPreview]:
        return [EmailPreview(errors=list(errors)) for _ in contexts]

    try:
        refuse_includes(source)
    except TemplateError as error:
        return everywhere([PreviewError.from_error(error)])
    syntax = email_syntax_errors(source)
    if syntax:
        return everywhere([PreviewError.from_error(error) for error in syntax])
    try:
        compiled = compile_email(source, limits=limits, checked=True, reuse=True)
    except TemplateSyntaxError as error:
        problem = PreviewError.from_error(error)
        if problem.code == "invalid-mjml":
            problem = PreviewError.at_mjml_break(error, source.body)
        return everywhere([problem])
    except TemplateError as error:
        return everywhere([PreviewError.from_error(error)])
    shown = []
    for context in contexts:
        try:
            rendered = compiled.render(context, mode="preview", limits=limits)
        except InvalidMjmlError as error:
            shown.append(EmailPreview(errors=[PreviewError.at_mjml_break(error, source.body)]))
        except TemplateError as error:
            shown.append(EmailPreview(errors=[PreviewError.from_error(error)]))
        else:
            shown.append(
                EmailPreview(
                    rendered.subject,
                    rendered.html,
                    rendered.text,
                    rendered.missing,
                    rendered.warnings,
                    [],
                )
            )
    return shown


def preview_sms(
    source: SmsSource, context: Mapping[str, Any], *, limits: RenderLimits | None = None
) -> SmsPreview:
    """Render an unsaved SMS with sample data; problems come back in `errors`."""
    try:
        rendered = compile_sms(source, limits=limits).render(context, mode="preview")
    except TemplateError as error:
        return SmsPreview(errors=[PreviewError.from_error(error)])
    return SmsPreview(rendered.body, rendered.info, rendered.missing, rendered.warnings, [])
