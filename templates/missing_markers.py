"""Show missing variables in a preview: the sandbox leaves markers, these turn them visible."""

from __future__ import annotations

import re

from markupsafe import escape

from templates.sandbox import MISSING_CLOSE, MISSING_OPEN

__all__ = ["mark_missing_html", "mark_missing_text"]

_MARKER = re.compile(f"{MISSING_OPEN}(\\d+){MISSING_CLOSE}")
_RAW_OPEN = re.compile(r"<(title|style|script|textarea)\b", re.IGNORECASE)
_HIGHLIGHT = (
    '<mark class="dm-missing" title="Missing variable" '
    'style="background:#ffe08a;color:#5c3b00;border-radius:3px;padding:0 2px">{label}</mark>'
)


def _label(missing: list[str], match: re.Match[str]) -> str:
    index = int(match.group(1))
    name = missing[index] if index < len(missing) else "?"
    return f"{{{{ {name} }}}}"


def mark_missing_text(text: str, missing: list[str]) -> str:
    """Replace markers with a plain `{{ customer.first_name }}`."""
    if MISSING_OPEN not in text:
        return text
    return _MARKER.sub(lambda match: _label(missing, match), text)


def mark_missing_html(html: str, missing: list[str]) -> str:
    """Replace markers with a highlighted `<mark>` in text, a plain marker inside tags."""
    if MISSING_OPEN not in html:
        return html

    def replace(match: re.Match[str]) -> str:
        label = str(escape(_label(missing, match)))
        before = html[: match.start()]
        inside_tag = before.rfind("<") > before.rfind(">")
        opened = list(_RAW_OPEN.finditer(before))
        raw = opened[-1] if opened else None
        in_raw_text = (
            raw is not None and f"</{raw.group(1).lower()}" not in before[raw.end() :].lower()
        )
        if inside_tag or in_raw_text:
            return label
        return _HIGHLIGHT.format(label=label)

    return _MARKER.sub(replace, html)
