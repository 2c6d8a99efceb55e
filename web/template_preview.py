"""The preview of an unsaved source, one rendering and one answer for the API and the editor.

Each caller checks the source its own way (``validate_source``) and brings the sample data:
``POST /v1/templates/preview`` builds it from the schema, the project and a stored customer, the
editor sends its own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from distribution.template_store.render_pool import render_pool
from templates import EmailSource, PreviewError, SmsSource
from templates.sms import sms_parts
from web.templates_schemas import PreviewOut, ProblemOut, SmsOut

__all__ = ["preview_out", "problems_out"]


def problems_out(errors: list[PreviewError]) -> list[ProblemOut]:
    """Template errors as the API reports them."""
    return [ProblemOut(e.part, e.message, e.line, e.column) for e in errors]


def preview_out(source: EmailSource | SmsSource, context: Mapping[str, Any]) -> PreviewOut:
    """Render a checked source with sample data in the render pool; errors are in the answer."""
    if isinstance(source, EmailSource):
        email = render_pool().preview_email(source, context)
        return PreviewOut(
            subject=email.subject,
            html=email.html,
            text=email.text,
            sms=None,
            missing=email.missing,
            warnings=email.warnings,
            errors=problems_out(email.errors),
        )
    sms = render_pool().preview_sms(source, context)
    info = sms.info
    return PreviewOut(
        subject=None,
        html=None,
        text=None,
        sms=SmsOut(
            sms.body,
            info.encoding,
            info.segments,
            info.length,
            info.ucs2_characters,
            sms_parts(sms.body, info),
            [unicodedata.name(c, f"U+{ord(c):04X}") for c in info.ucs2_characters],
        )
        if info is not None
        else None,
        missing=sms.missing,
        warnings=sms.warnings,
        errors=problems_out(sms.errors),
    )
