"""Refuse NUL characters in query strings, path segments and JSON bodies before any handler.

No stored value can hold a NUL (PostgreSQL's text type refuses it outright), so a filter, an id
or a field carrying one can match or store nothing. Checking once here gives every endpoint the
same clear 422 naming the field, instead of each handler needing its own guard, and keeps such
values away from the database driver, which would fail with an error of its own.

Handlers that stream their body (file uploads, opted out with ``STREAMS_BODY``) check their rows
themselves and report NULs per row, so one bad row does not refuse a whole import.

JSON bodies are decoded by :class:`BoundedJsonRequest`, which refuses one nested deeper than
``MAX_JSON_DEPTH`` with a 422 naming the member that holds it, before the decoder would run out
of stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException

from distribution.errors import FieldError, InvalidInputError
from distribution.storage.json_bounds import MAX_JSON_DEPTH, too_deep_member

__all__ = ["STREAMS_BODY", "BoundedJsonRequest", "refuse_nul_characters"]

#: ``opt`` of a handler that reads its body as a stream: the guard must not read it first.
STREAMS_BODY = {"streams_body": True}
_NUL = "\x00"
_REASON = "must not contain NUL characters"


class BoundedJsonRequest(Request[Any, Any, Any]):
    """A request whose JSON body may nest arrays and objects at most MAX_JSON_DEPTH levels."""

    async def json(self) -> Any:
        """The decoded body; InvalidInputError (a 422) names where it nests too deeply."""
        member = too_deep_member(await self.body())
        if member is not None:
            reason = f"nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"
            raise InvalidInputError([FieldError(member, reason)])
        return await super().json()


def _json_paths_with_nul(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if _NUL in value:
            yield path or "body"
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_paths_with_nul(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = key.replace(_NUL, "\\0")
            here = f"{path}.{name}" if path else name
            if _NUL in key:
                yield here
            yield from _json_paths_with_nul(item, here)


async def _body_errors(request: Request[Any, Any, Any]) -> list[FieldError]:
    if request.method not in ("POST", "PUT", "PATCH") or request.route_handler.opt.get(
        "streams_body"
    ):
        return []
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return []
    body = await request.body()
    if b"\\u0000" not in body and b"\x00" not in body:  # the usual case costs one scan
        return []
    try:
        # The request's own decoding, which refuses nesting too deep to walk, and keeps the
        # value for the handler.
        document = await request.json()
    except SerializationException:
        return []  # not JSON: the handler's own decoding reports it
    return [FieldError(path, _REASON) for path in _json_paths_with_nul(document, "")]


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: a 422 naming every parameter or JSON field holding a NUL."""
    errors: list[FieldError] = []
    # Scans of the raw query string and the decoded path first: parsing the parameters for
    # every request cost more than the rest of this hook. A NUL in a query is always "%00".
    query = request.scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        errors += [
            FieldError(name.replace(_NUL, "\\0"), _REASON)
            for name, value in request.query_params.multi_items()
            if _NUL in name or _NUL in value
        ]
    if _NUL in request.scope.get("path", ""):
        errors += [
            FieldError(name, _REASON)
            for name, value in request.path_params.items()
            if isinstance(value, str) and _NUL in value
        ]
    errors += await _body_errors(request)
    if errors:
        raise InvalidInputError(errors)
