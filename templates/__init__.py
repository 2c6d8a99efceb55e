"""The templating engine: email (MJML/HTML) and SMS templates, sandboxed, compiled once.

Pure functions over strings and values: no I/O, no database, no settings, no network.

Typical use::

    compiled = cache.get_or_compile(version_id, lambda: compile_email(source))
    message = compiled.render(context)                 # send: strict
    shown = preview_email(unsaved_source, sample_data)  # editor: lenient, never raises
"""

from templates.cache import CompiledCache
from templates.emails import (
    CompiledEmail,
    RenderedEmail,
    RenderMode,
    compile_email,
    render_email_slow,
)
from templates.errors import (
    HeaderInjectionError,
    MissingVariablesError,
    RenderLimitError,
    TemplateError,
    TemplateRenderError,
    TemplateSyntaxError,
    UnsafeTemplateError,
)
from templates.filters import format_money
from templates.html_text import html_to_text
from templates.preview import (
    EmailPreview,
    PreviewError,
    SmsPreview,
    preview_email,
    preview_email_compiled,
    preview_sms,
)
from templates.sandbox import RenderLimits
from templates.schema import FILTER_SCHEMA, VARIABLE_SCHEMA, sample_context
from templates.sms import CompiledSms, RenderedSms, SmsInfo, compile_sms, gsm_safe_rewrite, sms_info
from templates.sources import BodyFormat, EmailSource, SmsSource
from templates.variants import Variant, ab_arm, locale_chain, resolve_variant

__all__ = [
    "FILTER_SCHEMA",
    "VARIABLE_SCHEMA",
    "BodyFormat",
    "CompiledCache",
    "CompiledEmail",
    "CompiledSms",
    "EmailPreview",
    "EmailSource",
    "HeaderInjectionError",
    "MissingVariablesError",
    "PreviewError",
    "RenderLimitError",
    "RenderLimits",
    "RenderMode",
    "RenderedEmail",
    "RenderedSms",
    "SmsInfo",
    "SmsPreview",
    "SmsSource",
    "TemplateError",
    "TemplateRenderError",
    "TemplateSyntaxError",
    "UnsafeTemplateError",
    "Variant",
    "ab_arm",
    "compile_email",
    "compile_sms",
    "format_money",
    "gsm_safe_rewrite",
    "html_to_text",
    "locale_chain",
    "preview_email",
    "preview_email_compiled",
    "preview_sms",
    "render_email_slow",
    "resolve_variant",
    "sample_context",
    "sms_info",
]
