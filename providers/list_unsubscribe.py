"""RFC 8058 one-click unsubscribe headers for marketing email."""

from __future__ import annotations

from urllib.parse import quote

from providers.message import Message

__all__ = ["unsubscribe_headers"]


def unsubscribe_headers(message: Message, *, mailto: str | None = None) -> dict[str, str]:
    """`List-Unsubscribe` (URL, then optional mailto) and `List-Unsubscribe-Post` for marketing.

    Transactional mail and marketing mail without an unsubscribe URL get no headers: RFC 8058
    requires an HTTPS URI for one-click, so a mailto alone is not offered as one-click.
    """
    if message.channel != "email" or not message.marketing or not message.unsubscribe_url:
        return {}
    targets = [f"<{message.unsubscribe_url}>"]
    if mailto:
        targets.append(f"<mailto:{mailto}?subject={quote('unsubscribe ' + message.id)}>")
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
