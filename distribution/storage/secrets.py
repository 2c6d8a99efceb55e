"""Secrets at rest: Fernet with a key derived from the service secret (`DM_SECRET_KEY`).

Provider configs, webhook subscriptions and inbound signing keys all seal their secrets here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SECRETS_KEY_LABEL", "SecretBox"]

# The label predates the other users of the box: changing it would make every stored secret
# unreadable.
SECRETS_KEY_LABEL = b"distribution-manager/provider-secrets/v1"


class SecretBox:
    """Seals and opens provider secrets with a key derived from the service secret."""

    def __init__(self, service_secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SECRETS_KEY_LABEL).derive(
            service_secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def __repr__(self) -> str:
        return "SecretBox(***)"

    def seal(self, secrets: Mapping[str, str]) -> str:
        """The Fernet token of the secrets, or "" when there are none."""
        if not secrets:
            return ""
        return self._fernet.encrypt(json.dumps(dict(secrets)).encode()).decode()

    def open(self, token: str) -> dict[str, str] | None:
        """The secrets, or None when they were sealed with another service secret."""
        if not token:
            return {}
        try:
            opened = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            return None
        return {str(k): str(v) for k, v in opened.items()}
