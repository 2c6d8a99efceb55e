"""RFC 8058 one-click unsubscribe headers for marketing email."""

from __future__ import annotations

from urllib.parse import quote

from providers.message import Message

__all__ = ["one_click_allowed", "unsubscribe_headers"]


def unsubscribe_headers(message: Message, *, mailto: str | None = None) -> dict[str, str]:
    """`List-Unsubscribe` (URL, then optional mailto) and `List-Unsubscribe-Post` for marketing.

    Transactional mail and marketing mail without an unsubscribe URL get no headers. RFC 8058
    requires an HTTPS URI for one-click: with a plain http URL (a service whose DM_PUBLIC_URL is
    http) the link is still listed, but `List-Unsubscribe-Post` is left out, as is a mailto alone.
    """
    if message.channel != "email" or not message.marketing or not message.unsubscribe_url:
        return {}
    targets = [f"<{message.unsubscribe_url}>"]
    if mailto:
        targets.append(f"<mailto:{mailto}?subject={quote('unsubscribe ' + message.id)}>")
    headers = {"List-Unsubscribe": ", ".join(targets)}
    if one_click_allowed(message.unsubscribe_url):
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def one_click_allowed(url: str) -> bool:
    """RFC 8058 section 3.1: one-click needs an HTTPS URI in List-Unsubscribe."""
    return url.lower().startswith("https://")
