"""What an author writes: the sources of an email or SMS template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BodyFormat", "EmailSource", "SmsSource"]

BodyFormat = Literal["mjml", "html"]


@dataclass(frozen=True)
class EmailSource:
    """An email template: Jinja in the subject, the body (MJML or HTML) and the optional text.

    Attributes:
        subject: Subject line template (no autoescape; must render to one line).
        body: Body template, MJML (`<mjml>...`) or HTML depending on `body_format`.
        body_format: "mjml" or "html".
        text_body: Plain-text part template; None to derive it from the rendered HTML.
    """

    subject: str
    body: str
    body_format: BodyFormat = "mjml"
    text_body: str | None = None


@dataclass(frozen=True)
class SmsSource:
    """An SMS template.

    Attributes:
        body: Message template (no autoescape).
        gsm_safe: Rewrite characters outside GSM-7 (smart quotes, dashes, accents) after
            rendering, so the message stays in the cheaper GSM-7 encoding.
    """

    body: str
    gsm_safe: bool = False
