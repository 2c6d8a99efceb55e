"""Compile an email template once, render it per recipient.

`compile_email` does the expensive work (MJML, CSS inlining, Jinja compilation) once per template
version. `CompiledEmail.render` then only evaluates compiled Jinja. When the template cannot be
compiled safely (see `templates.protection`), the compiled object keeps the reference path:
Jinja on the source, then MJML, then inlining, for every render, and says so in `warnings`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jinja2

from templates.email_pipeline import MJ_INCLUDE, inline_css, mjml_to_html
from templates.errors import (
    HeaderInjectionError,
    InvalidMjmlError,
    MissingVariablesError,
    RenderLimitError,
    TemplateError,
    TemplateSyntaxError,
    UnsafeTemplateError,
)
from templates.filters import FILTERS
from templates.html_text import collapse_repeated_links, html_to_text
from templates.missing_markers import mark_missing_html, mark_missing_text
from templates.protection import ProtectedSource, protect, restore
from templates.sandbox import (
    RenderLimits,
    RenderState,
    TemplateEnvironment,
    render_guarded,
    start_render,
    wrap_context,
)
from templates.skeleton import compile_reusing
from templates.sources import EmailSource
from templates.syntax import check_syntax, explain_syntax_error

__all__ = [
    "BodyToHtml",
    "CompiledEmail",
    "EmailHtml",
    "RenderMode",
    "RenderedEmail",
    "SourceTemplates",
    "body_to_html",
    "compile_email",
    "compile_email_html",
    "compile_source_templates",
    "email_syntax_errors",
    "html_environment",
    "refuse_includes",
    "render_email_slow",
    "render_source_templates",
    "text_environment",
]

RenderMode = Literal["send", "preview"]

#: The MJML and inlining step after Jinja: (rendered body, body format) -> final HTML. A caller
#: may run it elsewhere (another process) by passing its own to `compile_email`.
BodyToHtml = Callable[[str, str], str]


def _environment(*, autoescape: bool) -> TemplateEnvironment:
    env = TemplateEnvironment(autoescape=autoescape)
    env.filters.update(FILTERS)
    return env


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)


def html_environment() -> TemplateEnvironment:
    """The shared sandbox for HTML and MJML bodies (autoescape on)."""
    return _HTML_ENV


def text_environment() -> TemplateEnvironment:
    """The shared sandbox for subjects, text parts and SMS (autoescape off)."""
    return _TEXT_ENV


@dataclass(frozen=True)
class RenderedEmail:
    """One recipient's email.

    Attributes:
        subject: The subject line (one line).
        html: The final HTML, CSS inlined.
        text: The plain-text part.
        missing: Variables the context lacked (a preview shows them as placeholders).
        warnings: Things the author should know, such as the slow path being used.
    """

    subject: str
    html: str
    text: str
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _run(template: jinja2.Template, context: dict[str, Any], state: RenderState) -> str:
    # `context` already holds the environment globals (see `wrap_context`): share it as is.
    return render_guarded(
        state, lambda: template.root_render_func(template.new_context(context, shared=True))
    )


def email_syntax_errors(source: EmailSource) -> list[TemplateSyntaxError]:
    """Every syntax error of the subject, body and text parts (empty when all parse)."""
    errors: list[TemplateSyntaxError] = []
    checks = [(_TEXT_ENV, source.subject, "subject"), (_HTML_ENV, source.body, "body")]
    if source.text_body is not None:
        checks.append((_TEXT_ENV, source.text_body, "text"))
    for env, text, part in checks:
        error = check_syntax(env, text, part)
        if error is not None:
            errors.append(error)
    return errors


def _check_subject(subject: str) -> str:
    if "\r" in subject or "\n" in subject:
        raise HeaderInjectionError(
            "the rendered subject contains a line break (check the variables it uses)",
            part="subject",
        )
    return subject


def _finish(
    state: RenderState, mode: RenderMode, subject: str, html: str, text: str, warnings: list[str]
) -> RenderedEmail:
    missing = list(state.missing)
    if mode == "send":
        if missing:
            raise MissingVariablesError(missing)
        return RenderedEmail(_check_subject(subject), html, text, [], list(warnings))
    subject = mark_missing_text(subject, missing)
    return RenderedEmail(
        _check_subject(subject),
        mark_missing_html(html, missing),
        mark_missing_text(text, missing),
        missing,
        list(warnings),
    )


def body_to_html(rendered_body: str, body_format: str) -> str:
    """MJML (if any), then CSS inlining: the expensive step of the reference path.

    Raises:
        TemplateSyntaxError: The rendered body is not valid MJML.
    """
    html = mjml_to_html(rendered_body) if body_format == "mjml" else rendered_body
    return inline_css(html)


def _body_to_html(
    rendered_body: str, body_format: str, state: RenderState, convert: BodyToHtml = body_to_html
) -> str:
    """The reference pipeline after Jinja, under the deadline."""
    state.check_deadline()
    try:
        html = convert(rendered_body, body_format)
    except TemplateSyntaxError as error:
        raise InvalidMjmlError(
            f"the rendered template is not valid MJML: {error.message}", part="body"
        ) from None
    state.check_deadline()
    return html


@dataclass(frozen=True)
class SourceTemplates:
    """The parts of an email source compiled as Jinja, as the reference path renders them."""

    source: EmailSource
    subject: jinja2.Template
    body: jinja2.Template
    text: jinja2.Template | None


def compile_source_templates(
    source: EmailSource,
) -> tuple[SourceTemplates | None, list[TemplateSyntaxError]]:
    """Compile each part once; return the templates, or every part's syntax error."""
    errors: list[TemplateSyntaxError] = []
    compiled: dict[str, jinja2.Template | None] = {"text": None}
    parts = [
        ("subject", _TEXT_ENV, source.subject.strip()),
        ("body", _HTML_ENV, source.body),
    ]
    if source.text_body is not None:
        parts.append(("text", _TEXT_ENV, source.text_body))
    for part, env, text in parts:
        try:
            compiled[part] = env.from_string(text)
        except jinja2.TemplateSyntaxError as error:
            errors.append(explain_syntax_error(text, error, part))
    if errors:
        return None, errors
    subject, body = compiled["subject"], compiled["body"]
    assert subject is not None
    assert body is not None
    return SourceTemplates(source, subject, body, compiled["text"]), []


def render_source_templates(
    templates: SourceTemplates,
    context: Mapping[str, Any],
    *,
    mode: RenderMode = "send",
    limits: RenderLimits | None = None,
) -> RenderedEmail:
    """Render already compiled source parts by the reference path (Jinja, MJML, inlining)."""
    limits = limits or RenderLimits()
    state = start_render(limits, preview=mode == "preview", max_chars=limits.max_email_chars)
    ctx = wrap_context(context, _HTML_ENV.globals)
    subject = _run(templates.subject, ctx, state)
    body = _run(templates.body, ctx, state)
    html = _body_to_html(body, templates.source.body_format, state)
    text = _run(templates.text, ctx, state) if templates.text is not None else html_to_text(html)
    return _finish(state, mode, subject, html, text, [])


def render_email_slow(
    source: EmailSource,
    context: Mapping[str, Any],
    *,
    mode: RenderMode = "send",
    limits: RenderLimits | None = None,
) -> RenderedEmail:
    """Render by the reference path: Jinja on the source, then MJML, then CSS inlining.

    This is what a compiled template must be equivalent to. The service's previews compile
    instead (`templates.preview.preview_email_compiled`), so they show exactly what sends send.
    """
    refuse_includes(source)
    templates, errors = compile_source_templates(source)
    if templates is None:
        raise errors[0]
    return render_source_templates(templates, context, mode=mode, limits=limits)


def refuse_includes(source: EmailSource) -> None:
    if source.body_format == "mjml" and MJ_INCLUDE.search(source.body):
        raise UnsafeTemplateError(
            "mj-include is not supported (templates cannot read files): paste the included "
            "content into the template",
            part="body",
        )


@dataclass(frozen=True)
class _FastParts:
    html: jinja2.Template
    html_source: str
    text: jinja2.Template | None
    text_source: str | None
    # The runs of text of reused skeletons, by marker name (`templates.skeleton`); empty when
    # each part was compiled whole.
    html_texts: Mapping[str, Any] = field(default_factory=dict)
    text_texts: Mapping[str, Any] = field(default_factory=dict)


def _with(context: dict[str, Any], texts: Mapping[str, Any]) -> dict[str, Any]:
    return {**context, **texts} if texts else context


class CompiledEmail:
    """An email template compiled once; `render` it for each recipient.

    Attributes:
        source: The source it was compiled from.
        fast_path: True when a render only evaluates compiled Jinja; False when the template
            could not be compiled safely and each render runs MJML and inlining again (through
            `convert`, given at compile time).
        warnings: Why the slow path is used, if it is.
        compiled_html: The compiled HTML template source (Jinja over the final HTML), or None.
        compiled_text: The compiled text-part template source, when derived once from the HTML.
    """

    def __init__(
        self,
        source: EmailSource,
        *,
        fast: _FastParts | None,
        warnings: list[str],
        limits: RenderLimits,
        convert: BodyToHtml = body_to_html,
    ) -> None:
        self.source = source
        self.fast_path = fast is not None
        self.warnings = tuple(warnings)
        self.limits = limits
        self.compiled_html = fast.html_source if fast else None
        self.compiled_text = fast.text_source if fast and source.text_body is None else None
        self._fast = fast
        self._convert = convert
        self._subject = _TEXT_ENV.from_string(source.subject.strip())
        self._body = None if fast else _HTML_ENV.from_string(source.body)
        self._text = (
            _TEXT_ENV.from_string(source.text_body)
            if source.text_body is not None
            else (fast.text if fast else None)
        )

    def render(
        self,
        context: Mapping[str, Any],
        *,
        mode: RenderMode = "send",
        limits: RenderLimits | None = None,
    ) -> RenderedEmail:
        """Render for one recipient.

        Args:
            context: Variables (see `VARIABLE_SCHEMA`).
            mode: "send" raises on missing variables; "preview" shows them as placeholders.
            limits: Overrides the limits given at compile time.

        Raises:
            MissingVariablesError: In send mode, naming every missing variable.
            RenderLimitError: The render ran out of time or output size.
            HeaderInjectionError: The subject rendered with a line break.
            UnsafeTemplateError: The template tried something the sandbox refuses.
        """
        limits = limits or self.limits
        state = start_render(limits, preview=mode == "preview", max_chars=limits.max_email_chars)
        ctx = wrap_context(context, _HTML_ENV.globals)
        subject = _run(self._subject, ctx, state)
        if self._fast is not None:
            html = _run(self._fast.html, _with(ctx, self._fast.html_texts), state)
        else:
            assert self._body is not None
            body = _run(self._body, ctx, state)
            html = _body_to_html(body, self.source.body_format, state, self._convert)
        if self._text is None:
            text = html_to_text(html)
        elif self.source.text_body is None:
            assert self._fast is not None  # a derived text part is compiled with the HTML
            text = _tidy_text(_run(self._text, _with(ctx, self._fast.text_texts), state))
        else:
            text = _run(self._text, ctx, state)
        return _finish(state, mode, subject, html, text, list(self.warnings))


_BLANK_RUNS = re.compile(r"[ \t]+\n|\n{3,}")


def _tidy_text(text: str) -> str:
    """Drop the trailing spaces and blank runs that statements leave in a text part."""
    text = collapse_repeated_links(text)
    return (
        _BLANK_RUNS.sub(lambda m: "\n\n" if m.group().startswith("\n") else "\n", text).strip()
        + "\n"
    )


@dataclass(frozen=True)
class EmailHtml:
    """The expensive stage of a compile as plain strings, so it can run in another process.

    Attributes:
        html: The final HTML with the Jinja tokens restored (a template source), or None when
            the template cannot be compiled safely.
        text: The text part derived once from that HTML (a template source), or None.
        reason: Why `html` is None.
    """

    html: str | None
    text: str | None = None
    reason: str | None = None


def compile_email_html(source: EmailSource) -> EmailHtml:
    """MJML and CSS inlining once, with the Jinja tokens protected (the expensive stage).

    Raises:
        TemplateSyntaxError: The author's MJML is invalid.
    """
    protected = protect(source.body, mjml=source.body_format == "mjml")
    if protected.unsafe_reason is not None:
        return EmailHtml(None, reason=protected.unsafe_reason)
    try:
        html = mjml_to_html(protected.text) if source.body_format == "mjml" else protected.text
        inlined = inline_css(html)
    except (TemplateSyntaxError, RenderLimitError):
        raise  # the author's markup is invalid or too deep, not our placeholders
    except TemplateError as error:
        return EmailHtml(
            None, reason=f"MJML could not compile the template with placeholders ({error.message})"
        )
    restored, reason = restore(inlined, protected)
    if restored is None:
        return EmailHtml(None, reason=reason)
    text = _text_part_source(inlined, protected) if source.text_body is None else None
    return EmailHtml(restored, text)


def _fast_parts(stage: EmailHtml, *, reuse: bool = False) -> tuple[_FastParts | None, str | None]:
    """Compile the stage's strings as Jinja; return (parts, None) or (None, why not).

    With `reuse`, each string compiles through `templates.skeleton`: a source whose tags did
    not change since an earlier compile costs no Jinja compile.
    """
    if stage.html is None:
        return None, stage.reason
    try:
        html_template, html_texts = _compiled(_HTML_ENV, stage.html, reuse)
    except jinja2.TemplateSyntaxError as error:
        return None, f"the compiled HTML does not parse as Jinja ({error.message})"
    text_template: jinja2.Template | None = None
    text_source: str | None = None
    text_texts: dict[str, Any] = {}
    if stage.text is not None:
        # When the statements do not survive the conversion, the text is derived from each
        # rendered HTML instead.
        with contextlib.suppress(jinja2.TemplateSyntaxError):
            text_template, text_texts = _compiled(_TEXT_ENV, stage.text, reuse)
            text_source = stage.text
    return _FastParts(
        html_template, stage.html, text_template, text_source, html_texts, text_texts
    ), None


def _compiled(
    env: TemplateEnvironment, source: str, reuse: bool
) -> tuple[jinja2.Template, dict[str, Any]]:
    if not reuse:
        return env.from_string(source), {}
    reusable = compile_reusing(env, source)
    return reusable.template, {reusable.name: reusable.texts}


def _text_part_source(inlined: str, protected: ProtectedSource) -> str | None:
    """Derive the text part once from the compiled HTML, carrying the Jinja tokens along.

    Returns None when the statements do not survive the conversion.
    """
    keep = re.compile(rf"{protected.prefix}\d+x")
    text = html_to_text(inlined, keep_comments=keep)
    restored, _reason = restore(text, protected, statements_only=True)
    return restored


def compile_email(
    source: EmailSource,
    *,
    limits: RenderLimits | None = None,
    stage: Callable[[EmailSource], EmailHtml] = compile_email_html,
    convert: BodyToHtml = body_to_html,
    checked: bool = False,
    reuse: bool = False,
) -> CompiledEmail:
    """Compile an email template once (MJML, CSS inlining, Jinja) for many renders.

    Args:
        source: The template.
        limits: The render limits of each render.
        stage: Runs the expensive stage (`compile_email_html`); a caller may run it elsewhere.
        convert: The slow path's per-recipient MJML and inlining (`body_to_html`), likewise.
        checked: The caller already ran `refuse_includes` and `email_syntax_errors` (a preview
            lists every part's syntax errors first): parsing every part again costs a third
            of the compile.
        reuse: Reuse the Jinja compile of an earlier source with the same tags (a preview
            while the author types; see `templates.skeleton`). Sends compile each part whole:
            a render of a reused skeleton prints each run of text through a variable.

    Raises:
        TemplateSyntaxError: A part does not parse; `.part`, `.line`, `.column` say where.
        UnsafeTemplateError: The body uses `mj-include`.
        RenderLimitError: The body nests too deep or has too many elements (see
            `templates.email_pipeline`).
    """
    limits = limits or RenderLimits()
    if not checked:
        refuse_includes(source)
        errors = email_syntax_errors(source)
        if errors:
            raise errors[0]
    fast, reason = _fast_parts(stage(source), reuse=reuse)
    warnings = []
    if fast is None:
        warnings.append(
            f"this template is rendered per recipient (slower) because {reason}"
            if reason
            else "this template is rendered per recipient (slower)"
        )
    return CompiledEmail(source, fast=fast, warnings=warnings, limits=limits, convert=convert)
