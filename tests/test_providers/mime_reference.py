"""The SMTP provider's former `build_mime`, kept as the oracle its replacement is checked against.

It built the message with the modern `email` API (`EmailMessage`, `policy.SMTP`): correct, but
every header went through `email.headerregistry` on the way in and was folded again on the way
out, about 4.5 ms of CPU per message. `tests/test_providers/test_smtp_mime.py` asserts that the
hand-built bytes of `providers.smtp_mime.build_mime` mean the same once parsed, and
`benchmarks/smtp_mime.py` times both.
"""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from providers.list_unsubscribe import unsubscribe_headers
from providers.message import Message
from providers.smtp_mime import SAFE_ID, STRUCTURAL_HEADERS

__all__ = ["reference_build_mime"]


def reference_build_mime(
    message: Message,
    *,
    from_email: str,
    from_name: str | None = None,
    reply_to: str | None = None,
    message_id_domain: str,
    unsubscribe_mailto: str | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """The former builder, unchanged but for the names it imports."""
    mime = EmailMessage(policy=email.policy.SMTP)
    sender = message.from_email or from_email
    mime["From"] = formataddr((message.from_name or from_name or "", sender))
    mime["To"] = formataddr((message.to_name or "", message.to))
    mime["Subject"] = message.subject or ""
    mime["Date"] = format_datetime(now or datetime.now(UTC))
    if SAFE_ID.match(message.id):
        mime["Message-ID"] = f"<{message.id}@{message_id_domain}>"
    else:
        mime["Message-ID"] = make_msgid(domain=message_id_domain)
    if message.reply_to or reply_to:
        mime["Reply-To"] = message.reply_to or reply_to
    for name, value in unsubscribe_headers(message, mailto=unsubscribe_mailto).items():
        mime[name] = value
    for name, value in message.headers.items():
        if name.lower() not in STRUCTURAL_HEADERS:
            mime[name] = value
    if message.text and message.html:
        mime.set_content(message.text)
        mime.add_alternative(message.html, subtype="html")
    elif message.html:
        mime.set_content(message.html, subtype="html")
    else:
        mime.set_content(message.text or "")
    return mime
