"""RFC 9457 problem details: every error leaves the service in this one shape.

Each document also carries Voucherify's error members as extension members (RFC 9457 allows
them): ``code`` (the status), ``key`` (a snake_case name of the kind of error), ``message`` (the
title) and ``details`` (the detail, with every field error spelled out). Voucherify's SDKs show
those in their exceptions, so a client built for Voucherify reads why its call was refused.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from distribution.customers.customer_input import field_error_from_msgspec
from distribution.errors import (
    AuthenticationError,
    ConflictError,
    DistributionError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)

__all__ = ["EXCEPTION_HANDLERS", "document_problems", "problem"]

log = logging.getLogger("web.errors")
PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    501: "Not implemented",
}
# Voucherify's ``key`` member: what kind of error, for clients that branch on it.
_KEYS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_payload",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
}


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    """A problem-details response (``extensions``: extra members, RFC 9457 section 3.2)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    details = detail
    if errors is not None:
        body["errors"] = errors
        details += " " + "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    body |= extensions or {}
    body |= {
        "code": status,
        "key": _KEYS.get(status, "error"),
        "message": body["title"],
        "details": details,
    }
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _distribution_error(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, Any]]:
    if isinstance(error, InvalidInputError):
        errors = [{"field": e.field, "reason": e.reason} for e in error.errors]
        return problem(request, 422, "The request has invalid fields.", errors=errors)
    if isinstance(error, NotFoundError):
        return problem(request, 404, str(error))
    if isinstance(error, AuthenticationError):
        return problem(request, 401, str(error), headers={"WWW-Authenticate": "X-App-Token"})
    if isinstance(error, ConflictError):
        return problem(request, 409, str(error), extensions=error.extensions)
    if isinstance(error, PayloadTooLargeError):
        return problem(request, 413, str(error))
    return problem(request, 400, str(error))


def _validation_error(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, Any]]:
    assert isinstance(error, ValidationException)
    errors = []
    for item in error.extra if isinstance(error.extra, list) else []:
        if not isinstance(item, dict) or _absent_body(item):
            continue
        found = field_error_from_msgspec(str(item.get("message", "is invalid")))
        field = found.field if found.field != "body" else str(item.get("key") or "body")
        errors.append({"field": field, "reason": found.reason})
    if not errors:
        errors.append({"field": "body", "reason": str(error.detail)})
    return problem(request, 422, "The request has invalid fields.", errors=errors)


def _absent_body(item: dict[str, Any]) -> bool:
    # With a path parameter already invalid and no body sent, Litestar also reports an optional
    # body as the KeyError of its missing argument ("'data'"): noise, not a second problem.
    key = item.get("key")
    return item.get("source") == "body" and item.get("message") == f"'{key}'"


def _http_error(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    assert isinstance(error, HTTPException)
    status = error.status_code
    # A 501 says which operation is not supported and why; other 5xx details stay private.
    detail = (
        error.detail
        if status < 500 or status == 501
        else "The server could not handle this request."
    )
    return problem(request, status, detail, headers=error.headers)


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(
        request, HTTP_500_INTERNAL_SERVER_ERROR, "The server could not handle this request."
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DistributionError: _distribution_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}


def document_problems(schema: OpenAPI) -> None:
    """Describe the problem responses of every API operation in the OpenAPI document.

    Litestar documents its own validation error shape as a 400; this service answers 422 with a
    problem document instead, so the generated entry is replaced here, in one place. A 400
    remains for a body that cannot be parsed at all (malformed JSON or form data), so operations
    that take a body document it as a problem too.
    """
    problem_schema = Schema(
        type=OpenAPIType.OBJECT,
        required=["type", "title", "status", "detail"],
        properties={
            "type": Schema(type=OpenAPIType.STRING),
            "title": Schema(type=OpenAPIType.STRING),
            "status": Schema(type=OpenAPIType.INTEGER),
            "detail": Schema(type=OpenAPIType.STRING),
            "instance": Schema(type=OpenAPIType.STRING),
            "code": Schema(type=OpenAPIType.INTEGER, description="Voucherify's: the status"),
            "key": Schema(type=OpenAPIType.STRING, description="Voucherify's: the error kind"),
            "message": Schema(type=OpenAPIType.STRING, description="Voucherify's: the title"),
            "details": Schema(
                type=OpenAPIType.STRING, description="Voucherify's: detail and field errors"
            ),
            "errors": Schema(
                type=OpenAPIType.ARRAY,
                items=Schema(
                    type=OpenAPIType.OBJECT,
                    required=["field", "reason"],
                    properties={
                        "field": Schema(type=OpenAPIType.STRING),
                        "reason": Schema(type=OpenAPIType.STRING),
                    },
                ),
            ),
        },
    )
    content = {PROBLEM_JSON: OpenAPIMediaType(schema=problem_schema)}
    for path, item in (schema.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is None or not path.startswith("/v1/"):
                continue
            responses = operation.responses or {}
            responses.pop("400", None)
            statuses = ["401", "404", "409", "413", "422"]
            if operation.request_body is not None:
                statuses.insert(0, "400")
            if "{" in path:
                # An id equal to a fixed route beside it (`/v1/templates/preview`) names that
                # route, which may not take this method.
                statuses.append("405")
            if "501" in responses:  # an operation declared not supported: its problem shape
                responses.pop("501")
                statuses.append("501")
            for status in statuses:
                responses.setdefault(
                    status, OpenAPIResponse(description=_TITLES[int(status)], content=content)
                )
            operation.responses = responses
