"""Inbound events: our own shape and Voucherify's webhook envelope, mapped to one value.

Our shape::

    {"id"?, "type", "customer": {"id"} | {"source_id"} | {full customer object},
     "referrer"?, "campaign"?, "code"?, "reward"?, "order"?, "data"?}

Voucherify's webhook envelopes, both versions, are read by `voucherify_events`: Voucherify's
own customer ids are not ours, so customers are matched by ``source_id`` or by Voucherify's id
kept as an external reference (``CustomerRef.voucherify_id``).

Voucherify's "track custom event" call (``{"event", "customer", "metadata", "referral",
"loyalty"}``, as its SDKs send it) becomes an event whose type is the custom event's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from distribution.customers.customer_input import CustomerIn, field_error_from_msgspec
from distribution.errors import FieldError, InvalidInputError
from distribution.events.voucherify_events import is_voucherify_body, voucherify_parts

__all__ = ["CustomerRef", "IncomingEvent", "parse_event"]

_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
#: Longest dedupe key (an event's own id, or the caller's Idempotency-Key or webhook-id).
MAX_ID_LENGTH = 200


@dataclass(frozen=True)
class CustomerRef:
    """Who an event is about: our id, a source id, or a whole customer object to upsert."""

    id: str | None = None
    source_id: str | None = None
    fields: CustomerIn | None = None
    #: Voucherify's id of the customer: an external reference that finds it too.
    voucherify_id: str | None = None


@dataclass(frozen=True)
class IncomingEvent:
    """An event in the one internal shape, whatever it arrived as."""

    type: str
    customer: CustomerRef
    upstream_id: str | None = None
    source: str = "api"
    referrer: CustomerRef | None = None
    campaign: dict[str, Any] | None = None
    code: dict[str, Any] | None = None
    reward: dict[str, Any] | None = None
    order: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: When it happened upstream (ISO 8601), if the body says; else when it was received.
    created_at: str | None = None
    #: What went wrong on the way in without stopping the event (a customer not fetched).
    notes: tuple[str, ...] = ()


def _customer_ref(raw: Any, where: str, errors: list[FieldError]) -> CustomerRef | None:
    if isinstance(raw, str) and raw:
        return CustomerRef(id=raw) if raw.startswith("cust_") else CustomerRef(source_id=raw)
    if not isinstance(raw, dict) or not raw:
        errors.append(FieldError(where, "must be an object with id, source_id or customer fields"))
        return None
    if set(raw) == {"id"} and isinstance(raw["id"], str):
        return CustomerRef(id=raw["id"])
    body = {k: v for k, v in raw.items() if k not in ("id", "object")}
    if "id" in raw and isinstance(raw["id"], str) and not body.get("source_id"):
        return CustomerRef(id=raw["id"])
    try:
        fields = msgspec.convert(body, CustomerIn)
    except msgspec.ValidationError as error:
        found = field_error_from_msgspec(str(error))
        errors.append(FieldError(f"{where}.{found.field}", found.reason))
        return None
    source_id = fields.source_id if isinstance(fields.source_id, str) else None
    if not source_id:
        errors.append(FieldError(f"{where}.source_id", "is needed to find or create the customer"))
        return None
    return CustomerRef(source_id=source_id, fields=fields)


def _object(raw: Any, where: str, errors: list[FieldError]) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return {"id": raw} if where == "campaign" else {"code": raw}
    if not isinstance(raw, dict):
        errors.append(FieldError(where, "must be an object"))
        return None
    return raw


def parse_event(body: Any, *, idempotency_key: str | None = None) -> IncomingEvent:
    """Map a request body to an IncomingEvent, or raise InvalidInputError naming each field.

    The event's dedupe key is the body's own `id`, else ``idempotency_key`` (chosen by the caller).
    """
    # Dedupe keys are indexed: PostgreSQL refuses index rows over about 2,700 bytes.
    if idempotency_key is not None and len(idempotency_key) > MAX_ID_LENGTH:
        reason = (
            f"(the Idempotency-Key or webhook-id header) must be at most {MAX_ID_LENGTH} characters"
        )
        raise InvalidInputError([FieldError("idempotency_key", reason)])
    if not isinstance(body, dict):
        raise InvalidInputError([FieldError("body", "must be a JSON object")])
    if is_voucherify_body(body):
        return _voucherify(body, idempotency_key)
    if "event" in body and "type" not in body:
        return _custom_event(body, idempotency_key)
    errors: list[FieldError] = []
    known = {"id", "type", "customer", "referrer", "campaign", "code", "reward", "order", "data"}
    errors += [FieldError(k, "is not a known field") for k in sorted(set(body) - known)]
    event_type = body.get("type")
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        errors.append(FieldError("type", "must be an event type such as reward.granted"))
    upstream_id = body.get("id")
    if upstream_id is not None and (
        not isinstance(upstream_id, str) or len(upstream_id) > MAX_ID_LENGTH
    ):
        errors.append(FieldError("id", f"must be a string of at most {MAX_ID_LENGTH} characters"))
    customer = _customer_ref(body.get("customer"), "customer", errors)
    referrer = _customer_ref(body["referrer"], "referrer", errors) if body.get("referrer") else None
    parts = {key: _object(body.get(key), key, errors) for key in ("campaign", "code", "reward")}
    order = _object(body.get("order"), "order", errors)
    data = body.get("data") or {}
    if not isinstance(data, dict):
        errors.append(FieldError("data", "must be an object"))
    if errors or customer is None:
        raise InvalidInputError(errors)
    return IncomingEvent(
        type=str(event_type),
        customer=customer,
        upstream_id=upstream_id or idempotency_key,
        referrer=referrer,
        campaign=parts["campaign"],
        code=parts["code"],
        reward=parts["reward"],
        order=order,
        data=data,
    )


def _voucherify(body: dict[str, Any], idempotency_key: str | None) -> IncomingEvent:
    event_type = body.get("type")
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        raise InvalidInputError([FieldError("type", "must be a Voucherify event type")])
    parts = voucherify_parts(body)
    referrer = parts["referrer"]
    return IncomingEvent(
        type=event_type,
        customer=CustomerRef(
            source_id=parts["fields"].source_id,
            fields=parts["fields"],
            voucherify_id=parts["voucherify_id"],
        ),
        upstream_id=parts["upstream_id"] or idempotency_key,
        source="voucherify",
        referrer=(
            CustomerRef(
                source_id=referrer[0].source_id, fields=referrer[0], voucherify_id=referrer[1]
            )
            if referrer
            else None
        ),
        campaign=parts["campaign"],
        code=parts["code"],
        reward=parts["reward"],
        order=parts["order"],
        data=body["data"],
        created_at=parts["created_at"],
    )


_CUSTOM_EVENT_FIELDS = frozenset({"event", "customer", "metadata", "referral", "loyalty"})


def _custom_event(body: dict[str, Any], idempotency_key: str | None) -> IncomingEvent:
    """Voucherify's "track custom event" call (``POST /v1/events`` of its API and SDKs)."""
    errors = [
        FieldError(k, "is not a known field") for k in sorted(set(body) - _CUSTOM_EVENT_FIELDS)
    ]
    name = body.get("event")
    if not isinstance(name, str) or not _EVENT_TYPE.match(name) or len(name) > 300:
        errors.append(FieldError("event", "must be a custom event name such as user_subscribed"))
    customer = _customer_ref(body.get("customer"), "customer", errors)
    referral = body.get("referral")
    loyalty = body.get("loyalty")
    metadata = body.get("metadata")
    for key, value in (("referral", referral), ("loyalty", loyalty), ("metadata", metadata)):
        if value is not None and not isinstance(value, dict):
            errors.append(FieldError(key, "must be an object"))
    if errors or customer is None:
        raise InvalidInputError(errors)
    referral = referral or {}
    loyalty = loyalty or {}
    code = referral.get("code") or loyalty.get("code")
    referrer_id = referral.get("referrer_id")
    referrer = None
    if isinstance(referrer_id, str) and referrer_id:
        # Voucherify's referrer_id is its customer id; ours may be given, or a source id.
        referrer = CustomerRef(id=referrer_id) if referrer_id.startswith("cust_") else None
        referrer = referrer or CustomerRef(source_id=referrer_id)
    return IncomingEvent(
        type=str(name),
        customer=customer,
        upstream_id=idempotency_key,
        source="custom_event",
        referrer=referrer,
        code={"code": code} if isinstance(code, str) and code else None,
        data={"metadata": metadata or {}, "referral": referral, "loyalty": loyalty},
    )
