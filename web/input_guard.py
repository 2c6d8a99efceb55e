"""Refuse NUL characters in query strings and path segments before any handler sees them.

No stored value can hold a NUL (PostgreSQL's text type refuses it outright; the input checks
refuse it in bodies), so a filter or id carrying one can match nothing. Checking once here gives
every endpoint the same clear 422 instead of each filter needing its own guard, and keeps such
values away from the database driver, which would fail with an error of its own.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from distribution.errors import FieldError, InvalidInputError

__all__ = ["refuse_nul_characters"]

_NUL = "\x00"


def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: a 422 naming every query or path parameter holding a NUL."""
    errors = [
        FieldError(name.replace(_NUL, "\\0"), "must not contain NUL characters")
        for name, value in request.query_params.multi_items()
        if _NUL in name or _NUL in value
    ]
    errors += [
        FieldError(name, "must not contain NUL characters")
        for name, value in request.path_params.items()
        if isinstance(value, str) and _NUL in value
    ]
    if errors:
        raise InvalidInputError(errors)
