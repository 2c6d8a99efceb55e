"""Sample messages shared by the provider tests."""

from __future__ import annotations

from providers.message import Message


def email(id: str = "dlv_1", to: str = "alice@example.com", **overrides: object) -> Message:
    values: dict[str, object] = {
        "id": id,
        "channel": "email",
        "to": to,
        "to_name": "Alice Example",
        "subject": "Your code: WELCOME-42",
        "html": "<p>Hi Alice, your code is <b>WELCOME-42</b></p>",
        "text": "Hi Alice, your code is WELCOME-42",
    }
    values.update(overrides)
    return Message(**values)  # type: ignore[arg-type]


def sms(id: str = "dlv_2", to: str = "+14155552671", **overrides: object) -> Message:
    values: dict[str, object] = {
        "id": id,
        "channel": "sms",
        "to": to,
        "body": "Your code is WELCOME-42",
    }
    values.update(overrides)
    return Message(**values)  # type: ignore[arg-type]
