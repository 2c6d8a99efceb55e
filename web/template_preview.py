"""The preview of an unsaved source, one rendering and one answer for the API and the editor.

Each caller checks the source its own way (``validate_source``) and brings the sample data:
``POST /v1/templates/preview`` builds it from the schema, the project and a stored customer, the
editor sends its own. The answer's ``problems`` merge the check Publish makes (its errors are
exactly Publish's refusals) with what the caller's sample data shows (values missing or null).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from distribution.template_store import preview_checked
from templates import EmailPreview, EmailSource, PreviewError, SmsPreview, SmsSource
from templates.checks import Problem, preheader, unknown_variable
from templates.sms import sms_parts
from web.templates_schemas import CheckProblemOut, PreviewOut, ProblemOut, SmsOut

__all__ = ["preview_out", "problems_out"]

# Renders' own warnings are sentences; these prefixes give them their code.
_WARNING_CODES = (
    ("sent as UCS-2", "sms-ucs2"),
    ("this template is rendered per recipient", "slow-render"),
)


def problems_out(errors: list[PreviewError]) -> list[ProblemOut]:
    """Template errors as the API reports them."""
    return [ProblemOut(e.part, e.message, e.line, e.column) for e in errors]


def _part(part: str | None, sms: bool) -> str | None:
    if sms:
        return "sms"
    return "text_body" if part == "text" else part


def _error_problem(error: PreviewError, sms: bool) -> Problem:
    # The position is in `line`/`column`; the message is the same words Publish refuses with.
    message = error.message
    if error.line is not None:
        message = message.removeprefix(f"line {error.line}: ")
    return Problem("error", error.code, _part(error.part, sms), message, error.line, error.column)


def _warning_problem(warning: str, sms: bool) -> Problem:
    code = next((c for prefix, c in _WARNING_CODES if warning.startswith(prefix)), "warning")
    return Problem("warning", code, "sms" if sms else "body", warning)


def _problems(
    source: EmailSource | SmsSource, context: Mapping[str, Any], category: str
) -> tuple[list[Problem], EmailPreview | SmsPreview]:
    checked = preview_checked(source, context, category=category)
    shown, check = checked.shown, checked.check
    sms = isinstance(source, SmsSource)
    problems = [_error_problem(e, sms) for e in (*check.errors, *shown.errors)]
    problems += check.notes
    problems += [_warning_problem(w, sms) for w in shown.warnings]
    problems += checked.notes
    unique = list(dict.fromkeys(problems))  # a render error can be both the check's and ours
    unique.sort(key=lambda p: (p.severity != "error", p.part or "", p.line or 0))
    return unique, shown


def preview_out(
    source: EmailSource | SmsSource, context: Mapping[str, Any], *, category: str
) -> PreviewOut:
    """Render a checked source with sample data in the render pool; errors are in the answer.

    `category` (transactional, marketing) decides which Publish rules the problems check.
    """
    problems, shown = _problems(source, context, category)
    # A name no send provides is an unknown variable (in `problems`), not a missing value.
    missing = [m for m in shown.missing if unknown_variable(tuple(m.split("."))) is None]
    listed = [
        CheckProblemOut(p.severity, p.code, p.part, p.message, p.line, p.column) for p in problems
    ]
    if isinstance(shown, EmailPreview):
        email = shown
        return PreviewOut(
            subject=email.subject,
            html=email.html,
            text=email.text,
            sms=None,
            missing=missing,
            warnings=email.warnings,
            errors=problems_out(email.errors),
            problems=listed,
            preheader=preheader(email.html) if email.html else None,
        )
    info = shown.info
    return PreviewOut(
        subject=None,
        html=None,
        text=None,
        sms=SmsOut(
            shown.body,
            info.encoding,
            info.segments,
            info.length,
            info.ucs2_characters,
            sms_parts(shown.body, info),
            [unicodedata.name(c, f"U+{ord(c):04X}") for c in info.ucs2_characters],
        )
        if info is not None
        else None,
        missing=missing,
        warnings=shown.warnings,
        errors=problems_out(shown.errors),
        problems=listed,
    )
