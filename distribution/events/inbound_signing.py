"""Inbound event signing: a project may require Standard Webhooks signatures on ``/v1/events``.

When the project has a secret, a call must carry ``webhook-id``, ``webhook-timestamp`` (within
five minutes of now, either way, so a captured call cannot be replayed later) and a
``webhook-signature`` over the exact body bytes; otherwise it is refused before anything is
stored. The secret is sealed with the service key; only setting it returns it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlmodel import Session

from distribution.accounts.project_cache import changed
from distribution.errors import AuthenticationError, NotFoundError
from distribution.models import Project
from distribution.storage.secrets import SecretBox
from distribution.webhooks.subscriptions import new_webhook_secret
from providers.standard_webhooks import TOLERANCE_SECONDS, verify

__all__ = [
    "clear_inbound_secret",
    "has_inbound_secret",
    "inbound_secret",
    "open_inbound_secret",
    "set_inbound_secret",
    "verify_inbound",
]


def _project(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFoundError("project", project_id)
    return project


def set_inbound_secret(session: Session, box: SecretBox, project_id: str) -> str:
    """Generate (or rotate to) a new secret; the old one stops working at once."""
    project = _project(session, project_id)
    secret = new_webhook_secret()
    project.inbound_webhook_secret_encrypted = box.seal({"secret": secret})
    session.add(project)
    changed(session, project_id)  # cached project rows hold the sealed secret
    return secret


def clear_inbound_secret(session: Session, project_id: str) -> bool:
    """Stop requiring signatures; whether a secret was set."""
    project = _project(session, project_id)
    had = project.inbound_webhook_secret_encrypted is not None
    project.inbound_webhook_secret_encrypted = None
    session.add(project)
    changed(session, project_id)
    return had


def has_inbound_secret(session: Session, project_id: str) -> bool:
    """Whether ``POST /v1/events`` requires signed calls (the secret itself is never shown)."""
    return _project(session, project_id).inbound_webhook_secret_encrypted is not None


def inbound_secret(session: Session, box: SecretBox, project_id: str) -> str | None:
    """The project's secret, or None when calls need no signature.

    Raises:
        AuthenticationError: a secret is set but sealed with another service key; refusing is
            safer than accepting unsigned calls.
    """
    return open_inbound_secret(box, _project(session, project_id).inbound_webhook_secret_encrypted)


def open_inbound_secret(box: SecretBox, sealed: str | None) -> str | None:
    """The secret sealed in a project row, or None when calls need no signature.

    Raises:
        AuthenticationError: sealed with another service key (see `inbound_secret`).
    """
    if sealed is None:
        return None
    opened = box.open(sealed)
    if not opened or "secret" not in opened:
        raise AuthenticationError(
            "the inbound signing secret cannot be read (the service key changed): set a new one"
        )
    return opened["secret"]


def verify_inbound(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Accept a correctly signed, fresh call; AuthenticationError says what is wrong otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [
        name
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        if not lowered.get(name)
    ]
    if missing:
        raise AuthenticationError("signed calls only: missing " + ", ".join(missing))
    stamp = lowered["webhook-timestamp"]
    if not stamp.isdigit() or len(stamp) > 12:
        raise AuthenticationError("webhook-timestamp must be Unix seconds")
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > TOLERANCE_SECONDS:
        raise AuthenticationError("webhook-timestamp is outside the 5-minute window")
    if not verify(secret, lowered, body, now=current):
        raise AuthenticationError("webhook-signature does not match the body")
