"""SMS: encoding (GSM-7 or UCS-2), exact segment arithmetic, GSM-safe rewriting, rendering.

Rules (3GPP TS 23.038 as summarised in the reference sheet): a message is GSM-7 when every
character is in the basic or extension table; extension characters cost two septets. One GSM-7
segment holds 160 septets, a part of a longer message 153. Any other character makes the whole
message UCS-2, counted in UTF-16 code units (an emoji costs two): 70 in one segment, 67 per part.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jinja2

from templates.emails import RenderMode, text_environment
from templates.errors import MissingVariablesError, RenderLimitError
from templates.missing_markers import mark_missing_text
from templates.sandbox import RenderLimits, render_guarded, start_render, wrap_context
from templates.sources import SmsSource
from templates.syntax import check_syntax

__all__ = [
    "CompiledSms",
    "RenderedSms",
    "SmsInfo",
    "compile_sms",
    "gsm_safe_rewrite",
    "sms_info",
    "sms_parts",
]

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: Characters of the GSM-7 extension table; each is sent as ESC + code, two septets.
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

_GSM_SINGLE, _GSM_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SmsInfo:
    """How a message will travel.

    Attributes:
        encoding: "GSM-7" or "UCS-2".
        segments: Number of SMS parts billed (0 for an empty message).
        length: Septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2.
        ucs2_characters: The distinct characters that forced UCS-2, in order of appearance.
    """

    encoding: Encoding
    segments: int
    length: int
    ucs2_characters: list[str] = field(default_factory=list)


def _segments(length: int, single: int, part: int) -> int:
    if length == 0:
        return 0
    if length <= single:
        return 1
    return -(-length // part)


def sms_info(text: str) -> SmsInfo:
    """Encoding, segment count, length and the characters forcing UCS-2 for `text`."""
    forcing: dict[str, None] = {}
    septets = 0
    for char in text:
        if char in GSM_BASIC:
            septets += 1
        elif char in GSM_EXTENSION:
            septets += 2
        else:
            forcing[char] = None
    if not forcing:
        return SmsInfo("GSM-7", _segments(septets, _GSM_SINGLE, _GSM_PART), septets, [])
    units = len(text.encode("utf-16-le")) // 2
    return SmsInfo("UCS-2", _segments(units, _UCS2_SINGLE, _UCS2_PART), units, list(forcing))


def sms_parts(text: str, info: SmsInfo) -> list[str]:
    """``text`` cut where its billed segments end (one part for a single segment).

    Segment ``n`` holds septets (GSM-7) or code units (UCS-2) ``153n`` to ``153n + 152`` (``67``
    for UCS-2) as ``sms_info`` counts them; a character whose cost crosses a boundary (an
    extension character, an emoji's surrogate pair) is shown in the part where it ends, so there
    are exactly ``info.segments`` parts.
    """
    if info.segments <= 1:
        return [text] if text else []
    size = _GSM_PART if info.encoding == "GSM-7" else _UCS2_PART
    parts = [""] * info.segments
    used = 0
    for char in text:
        if info.encoding == "GSM-7":
            used += 2 if char in GSM_EXTENSION else 1
        else:
            used += 2 if ord(char) > 0xFFFF else 1
        parts[(used - 1) // size] += char
    return parts


# Punctuation and symbols that have a close GSM-7 equivalent (facts, not a copied table).
_REWRITES: dict[str, str] = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2039": "'",
    "\u203a": "'",
    "\u2013": "-",
    "\u2014": "-",
    "\u2012": "-",
    "\u2015": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2022": "-",
    "\u00b7": ".",
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\t": " ",
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u00d0": "D",
    "\u00f0": "d",
    "\u0152": "OE",
    "\u0153": "oe",
    "\u00de": "Th",
    "\u00fe": "th",
    "\u00e7": "c",  # ç is not GSM (only Ç is)
    "\u2122": "TM",
    "\u00a9": "(c)",
    "\u00ae": "(R)",
}


def gsm_safe_rewrite(text: str) -> str:
    """Downgrade characters outside GSM-7 to their closest GSM-7 spelling.

    Smart quotes become straight quotes, dashes a hyphen, `…` three dots, accented letters
    outside GSM-7 their base letter (`á` -> `a`, while GSM's own `é`, `ñ`, `ü` stay). Characters
    with no equivalent (emoji, CJK) are kept, so the message honestly stays UCS-2.
    """
    out: list[str] = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENSION:
            out.append(char)
            continue
        mapped = _REWRITES.get(char)
        if mapped is not None:
            out.append(mapped)
            continue
        base = unicodedata.normalize("NFD", char)[0]
        if base != char and (base in GSM_BASIC or base in GSM_EXTENSION):
            out.append(base)
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class RenderedSms:
    """One recipient's SMS: the body, how it travels, what was missing."""

    body: str
    info: SmsInfo
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class CompiledSms:
    """An SMS template compiled once; `render` it per recipient."""

    def __init__(self, source: SmsSource, template: jinja2.Template, limits: RenderLimits) -> None:
        self.source = source
        self.limits = limits
        self._template = template

    def render(
        self,
        context: Mapping[str, Any],
        *,
        mode: RenderMode = "send",
        limits: RenderLimits | None = None,
    ) -> RenderedSms:
        """Render for one recipient.

        Raises:
            MissingVariablesError: In send mode, naming every missing variable.
            RenderLimitError: Out of time, or the message needs more than `max_sms_segments`.
        """
        limits = limits or self.limits
        # Cap characters generously during the render; the exact check is on segments below.
        state = start_render(
            limits, preview=mode == "preview", max_chars=limits.max_sms_segments * _GSM_SINGLE * 2
        )
        template = self._template
        ctx = wrap_context(context, template.globals)
        body = render_guarded(
            state, lambda: template.root_render_func(template.new_context(ctx, shared=True))
        )
        missing = list(state.missing)
        if mode == "send" and missing:
            raise MissingVariablesError(missing)
        body = mark_missing_text(body, missing)
        if self.source.gsm_safe:
            body = gsm_safe_rewrite(body)
        info = sms_info(body)
        if info.segments > limits.max_sms_segments:
            raise RenderLimitError(
                f"the message needs {info.segments} SMS segments; the limit is "
                f"{limits.max_sms_segments}"
            )
        warnings = []
        if info.encoding == "UCS-2":
            shown = "".join(info.ucs2_characters[:10])
            warnings.append(f"sent as UCS-2 (70 characters per SMS) because of: {shown}")
        return RenderedSms(body, info, missing, warnings)


def compile_sms(source: SmsSource, *, limits: RenderLimits | None = None) -> CompiledSms:
    """Compile an SMS template once.

    Raises:
        TemplateSyntaxError: The body does not parse.
    """
    env = text_environment()
    error = check_syntax(env, source.body, "body")
    if error is not None:
        raise error
    return CompiledSms(source, env.from_string(source.body), limits or RenderLimits())
