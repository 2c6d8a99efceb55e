"""Errors raised by the application layer; the web layer maps each to an HTTP problem.

DistributionError
 ├── InvalidInputError      input broke a rule; carries every (field, reason) found
 ├── NotFoundError          no such object in this project (other projects' objects included)
 ├── ConflictError          the request contradicts the current state
 ├── AuthenticationError    missing, unknown or revoked credentials
 └── PayloadTooLargeError   an upload or batch over its documented limit
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DistributionError",
    "FieldError",
    "InvalidInputError",
    "NotFoundError",
    "PayloadTooLargeError",
]


@dataclass(frozen=True)
class FieldError:
    """One reason one field was refused. ``field`` is a dotted path such as ``address.country``."""

    field: str
    reason: str


class DistributionError(Exception):
    """Base of every error the application layer raises on purpose."""


class InvalidInputError(DistributionError):
    """Input broke one or more rules; ``errors`` lists every field and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))


class NotFoundError(DistributionError):
    """The object does not exist in the caller's project."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} was not found")


class ConflictError(DistributionError):
    """The request contradicts the current state (for example a duplicate name).

    ``extensions`` are extra members of the 409 problem document (what the caller needs to
    settle the conflict, for example the newer version of what they edited).
    """

    def __init__(self, message: str = "", extensions: Mapping[str, Any] | None = None) -> None:
        self.extensions: dict[str, Any] = dict(extensions or {})
        super().__init__(message)


class AuthenticationError(DistributionError):
    """Credentials are missing, unknown or revoked."""


class PayloadTooLargeError(DistributionError):
    """An upload or batch exceeds its documented limit."""
