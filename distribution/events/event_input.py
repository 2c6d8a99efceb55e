"""Inbound events: our own shape and Voucherify's webhook envelope, mapped to one value.

Our shape::

    {"id"?, "type", "customer": {"id"} | {"source_id"} | {full customer object},
     "referrer"?, "campaign"?, "code"?, "reward"?, "order"?, "data"?}

Voucherify's envelope (``"object": "event"``) carries the redemption, voucher, order, customer
and reward under ``data.object`` (and ``data.related_object``). Voucherify's own customer ids are
not ours: customers are matched by ``source_id``, and a Voucherify customer without one is known
here by the source id ``voucherify:<their id>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from distribution.customers.customer_input import CustomerIn, field_error_from_msgspec
from distribution.errors import FieldError, InvalidInputError

__all__ = ["CustomerRef", "IncomingEvent", "parse_event"]

_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
_CUSTOMER_FIELDS = set(CustomerIn.__struct_fields__)
#: Longest dedupe key (an event's own id, or the caller's Idempotency-Key or webhook-id).
MAX_ID_LENGTH = 200


@dataclass(frozen=True)
class CustomerRef:
    """Who an event is about: our id, a source id, or a whole customer object to upsert."""

    id: str | None = None
    source_id: str | None = None
    fields: CustomerIn | None = None


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
    if body.get("object") == "event" and isinstance(body.get("data"), dict):
        return _voucherify(body, idempotency_key)
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


def _voucherify_customer(raw: Any) -> CustomerRef | None:
    if not isinstance(raw, dict):
        return None
    fields: dict[str, Any] = {k: raw[k] for k in _CUSTOMER_FIELDS if raw.get(k) is not None}
    if not fields.get("source_id"):
        if not raw.get("id"):
            return None
        fields["source_id"] = f"voucherify:{raw['id']}"
    try:
        return CustomerRef(
            source_id=str(fields["source_id"]), fields=msgspec.convert(fields, CustomerIn)
        )
    except msgspec.ValidationError:
        return CustomerRef(source_id=str(fields["source_id"]))


def _reward(*candidates: Any) -> dict[str, Any] | None:
    for raw in candidates:
        if not isinstance(raw, dict):
            continue
        reward: dict[str, Any] = {
            "type": raw.get("type"),
            "description": raw.get("name") or raw.get("description"),
        }
        amount = raw.get("amount")
        parameters = raw.get("parameters")
        if amount is None and isinstance(parameters, dict):
            # Voucherify nests the value by reward type: CAMPAIGN.balance, COIN.coin_ratio...
            for detail in parameters.values():
                if isinstance(detail, dict) and isinstance(detail.get("balance"), int | float):
                    amount = detail["balance"]
                    break
        reward["amount"] = amount
        reward["currency"] = raw.get("currency")
        return reward
    return None


def _voucherify(body: dict[str, Any], idempotency_key: str | None) -> IncomingEvent:
    data = body["data"]
    obj = data.get("object") if isinstance(data.get("object"), dict) else {}
    related = data.get("related_object") if isinstance(data.get("related_object"), dict) else {}
    kind = obj.get("object")
    customer = _voucherify_customer(
        obj if kind == "customer" else obj.get("customer") or obj.get("holder")
    ) or _voucherify_customer(related.get("customer") or related.get("holder"))
    if customer is None:
        raise InvalidInputError([FieldError("data.object.customer", "the event names no customer")])
    voucher = obj if kind == "voucher" else obj.get("voucher") or related.get("voucher")
    code = None
    campaign = None
    if isinstance(voucher, dict) and voucher.get("code"):
        code = {
            "code": voucher["code"],
            "campaign": voucher.get("campaign"),
            "expiration_date": voucher.get("expiration_date"),
        }
        campaign = {"id": voucher.get("campaign_id"), "name": voucher.get("campaign")}
    order_raw = obj.get("order") if isinstance(obj.get("order"), dict) else None
    order = None
    if order_raw:
        order = {
            "id": order_raw.get("source_id") or order_raw.get("id"),
            "amount": order_raw.get("amount"),
            "currency": order_raw.get("currency"),
            "items": order_raw.get("items") or [],
        }
    referrer_raw = obj.get("referrer") or related.get("referrer")
    event_type = body.get("type")
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        raise InvalidInputError([FieldError("type", "must be a Voucherify event type")])
    upstream = body.get("id")
    if upstream and len(str(upstream)) > MAX_ID_LENGTH:
        raise InvalidInputError([FieldError("id", f"must be at most {MAX_ID_LENGTH} characters")])
    return IncomingEvent(
        type=event_type,
        customer=customer,
        upstream_id=str(upstream) if upstream else idempotency_key,
        source="voucherify",
        referrer=_voucherify_customer(referrer_raw),
        campaign=campaign,
        code=code,
        reward=_reward(obj.get("reward"), related.get("reward"), data.get("reward")),
        order=order,
        data=data,
    )
