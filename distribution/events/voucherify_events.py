"""Voucherify's webhook bodies, both versions, mapped to one `IncomingEvent`.

- **v2018-08-01** (the legacy envelope): ``{"id", "object": "event", "type", "created_at",
  "data": {"object": {...}, "related_object": {...}}, "metadata"}``; a redemption (its
  ``customer``, ``voucher``, ``order``, ``gift``, ``loyalty_card``, ``reward``) is
  ``data.object``, a customer event's customer too.
- **v2024-01-01**: ``{"id", "project_id", "created_at", "type", "data": {"customer", "holder",
  "voucher", "campaign", "order", "redemption", "reward", "balance", "referral_tier", ...},
  "source", "event"}``: the objects sit in ``data`` directly.

Whatever the version, the reward becomes one shape (`voucherify_reward`), the raw ``data`` is
kept as ``event.data``, and Voucherify's customer id becomes the customer's external reference
(`CustomerRef.voucherify_id`). docs/voucherify.md documents the mapping.
"""

from __future__ import annotations

from typing import Any

import msgspec

from distribution.customers.customer_input import ADDRESS_FIELDS, CustomerIn
from distribution.errors import FieldError, InvalidInputError

__all__ = [
    "VOUCHERIFY_SOURCE_PREFIX",
    "NoCustomerError",
    "has_contact",
    "is_voucherify_body",
    "voucherify_customer",
    "voucherify_parts",
    "voucherify_redemption_id",
    "voucherify_reward",
]

#: The source id of a customer Voucherify knows only by its own id.
VOUCHERIFY_SOURCE_PREFIX = "voucherify:"
_CUSTOMER_FIELDS = frozenset(CustomerIn.__struct_fields__)


class NoCustomerError(InvalidInputError):
    """A Voucherify event about no customer (a campaign created, a product updated...)."""


def is_voucherify_body(body: dict[str, Any]) -> bool:
    """Whether a body is one of Voucherify's webhook envelopes (either version)."""
    if not isinstance(body.get("data"), dict) or not isinstance(body.get("type"), str):
        return False
    return body.get("object") == "event" or "project_id" in body


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def voucherify_customer(raw: Any) -> tuple[CustomerIn | None, str | None]:
    """Voucherify's customer object as our customer fields, and Voucherify's id of it.

    A customer without a ``source_id`` gets ``voucherify:<id>``, so that it can be stored; its
    fields are None when they do not pass our checks (the event still names the customer).
    """
    if not isinstance(raw, dict):
        return None, None
    voucherify_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else None
    fields: dict[str, Any] = {k: raw[k] for k in _CUSTOMER_FIELDS if raw.get(k) is not None}
    if isinstance(fields.get("address"), dict):
        address = {k: v for k, v in fields["address"].items() if k in ADDRESS_FIELDS}
        fields["address"] = address or None
    if not fields.get("source_id"):
        if voucherify_id is None:
            return None, None
        fields["source_id"] = VOUCHERIFY_SOURCE_PREFIX + voucherify_id
    try:
        return msgspec.convert(fields, CustomerIn), voucherify_id
    except msgspec.ValidationError:
        return CustomerIn(source_id=str(fields["source_id"])), voucherify_id


def has_contact(fields: CustomerIn | None) -> bool:
    """Whether the customer fields carry an email address or a phone number."""
    return fields is not None and any(
        isinstance(value, str) and value for value in (fields.email, fields.phone)
    )


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _reward(
    kind: str, amount: Any, unit: str, description: Any, currency: Any = None
) -> dict[str, Any] | None:
    value = _number(amount)
    if value is None:
        return None
    text = description if isinstance(description, str) and description else None
    if text is None:
        text = {
            "percent": f"{value:g}% off",
            "points": f"{value:g} points",
            "units": f"{value:g} free item(s)",
        }.get(unit, "store credit" if kind == "credit" else "discount")
    return {
        "type": kind,
        "amount": value,
        "unit": unit,
        "currency": currency if isinstance(currency, str) and currency else None,
        "description": text,
    }


def _from_reward_object(raw: dict[str, Any], balance: dict[str, Any]) -> dict[str, Any] | None:
    """A Voucherify reward (CAMPAIGN, COIN, MATERIAL), with the balance change it caused."""
    name = raw.get("name") or raw.get("description")
    params = _dict(raw.get("parameters"))
    campaign = _dict(params.get("campaign"))
    changed = _number(balance.get("amount"))
    if changed is None:
        changed = _number(balance.get("points"))
    if raw.get("amount") is not None:  # our own and older bodies carry the value flat
        return _reward("credit", raw.get("amount"), "money", name, raw.get("currency"))
    kind = str(raw.get("type") or "").upper()
    if kind == "CAMPAIGN":
        if campaign.get("type") == "LOYALTY_PROGRAM" or balance.get("type") == "loyalty_card":
            return _reward("points", campaign.get("balance", changed), "points", name)
        if campaign.get("type") == "DISCOUNT_COUPONS":
            return {
                "type": "discount",
                "amount": None,
                "unit": None,
                "currency": None,
                "description": name or "discount coupon",
            }
        return _reward("credit", campaign.get("balance", changed), "money", name)
    if kind == "COIN":
        return _reward("points", changed if changed is not None else 0, "points", name)
    if kind == "MATERIAL":
        product = _dict(params.get("product"))
        return {
            "type": "product",
            "amount": 1,
            "unit": "units",
            "currency": None,
            "description": name or product.get("name") or "a product",
        }
    return None


def _from_voucher(voucher: dict[str, Any]) -> dict[str, Any] | None:
    """What a voucher gives: a discount (amount, percent, units), gift credit or points."""
    discount = _dict(voucher.get("discount"))
    kind = str(discount.get("type") or "").upper()
    if kind == "AMOUNT":
        return _reward("discount", discount.get("amount_off"), "money", None)
    if kind == "PERCENT":
        return _reward("discount", discount.get("percent_off"), "percent", None)
    if kind == "UNIT":
        return _reward("discount", discount.get("unit_off"), "units", None)
    if kind == "FIXED":
        return _reward("discount", discount.get("fixed_amount"), "money", None)
    gift = _dict(voucher.get("gift"))
    if gift:
        return _reward("credit", gift.get("amount", gift.get("balance")), "money", None)
    card = _dict(voucher.get("loyalty_card"))
    if card:
        return _reward("points", card.get("points"), "points", None)
    return None


def voucherify_reward(
    *,
    reward: Any,
    redemption: Any,
    voucher: Any,
    balance: Any = None,
) -> dict[str, Any] | None:
    """One reward shape: ``{type, amount, unit, currency, description}``, or None.

    ``type`` is credit, discount, points or product; ``unit`` says what ``amount`` counts:
    money (minor units, as Voucherify sends them), percent, units or points. The first source
    that says something wins: an explicit reward (a referral or loyalty reward), the gift
    credit or points the redemption took, then what the voucher gives.
    """
    if isinstance(reward, dict) and (found := _from_reward_object(reward, _dict(balance))):
        return found
    spent = _dict(redemption)
    gift = _dict(spent.get("gift"))
    if gift.get("amount") is not None:
        return _reward("credit", gift["amount"], "money", None)
    card = _dict(spent.get("loyalty_card"))
    if card.get("points") is not None:
        return _reward("points", card["points"], "points", None)
    return _from_voucher(_dict(voucher))


def _code(voucher: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(voucher.get("code"), str) or not voucher["code"]:
        return None
    qr = _dict(_dict(voucher.get("assets")).get("qr"))
    return {
        "code": voucher["code"],
        "campaign": voucher.get("campaign"),
        "expiration_date": voucher.get("expiration_date"),
        "qr_url": qr.get("url"),
    }


def _order(raw: dict[str, Any]) -> dict[str, Any] | None:
    if not raw:
        return None
    items = []
    for item in raw.get("items") or []:
        if isinstance(item, dict):
            product = _dict(item.get("product"))
            sku = _dict(item.get("sku"))
            items.append(
                {
                    "name": product.get("name") or sku.get("sku") or item.get("source_id"),
                    "quantity": item.get("quantity"),
                    "amount": item.get("amount"),
                    "sku": sku.get("source_id") or item.get("sku_id") or item.get("source_id"),
                }
            )
    return {
        "id": raw.get("source_id") or raw.get("id"),
        "amount": raw.get("amount"),
        "currency": raw.get("currency"),
        "items": items,
    }


def voucherify_redemption_id(data: dict[str, Any]) -> str | None:
    """Voucherify's id of the redemption a body's ``data`` reports (either version), or None.

    The same redemption has the same id in both versions and in every retry of its webhook.
    """
    legacy = _dict(data.get("object"))
    found = legacy.get("id") if legacy.get("object") == "redemption" else None
    found = found or _dict(data.get("redemption")).get("id")
    return found if isinstance(found, str) and found else None


def voucherify_parts(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of an `IncomingEvent` a Voucherify body carries (either version).

    Raises:
        NoCustomerError: the body names no customer.
        InvalidInputError: its id is not usable.
    """
    data = body["data"]
    legacy = body.get("object") == "event"
    if legacy:
        obj = _dict(data.get("object"))
        related = _dict(data.get("related_object"))
        is_customer = obj.get("object") == "customer"
        customer_raw = (
            (obj if is_customer else obj.get("customer") or obj.get("holder"))
            or related.get("customer")
            or related.get("holder")
        )
        voucher = _dict(obj if obj.get("object") == "voucher" else obj.get("voucher"))
        voucher = voucher or _dict(related.get("voucher"))
        redemption = obj if obj.get("object") == "redemption" else {}
        reward_raw = obj.get("reward") or related.get("reward") or data.get("reward")
        balance = related.get("balance") or data.get("balance")
        order_raw = _dict(obj.get("order"))
        referrer_raw = obj.get("referrer") or related.get("referrer")
        campaign_raw: dict[str, Any] = {}
        where = "data.object.customer"
        upstream = body.get("id")
    else:
        customer_raw = data.get("customer") or data.get("holder")
        voucher = _dict(data.get("voucher"))
        redemption = _dict(data.get("redemption"))
        reward_raw = data.get("reward")
        balance = data.get("balance")
        order_raw = _dict(data.get("order"))
        holder = _dict(data.get("holder"))
        customer_id = _dict(customer_raw).get("id")
        # A referral code's holder is the advocate when someone else redeems it.
        referrer_raw = data.get("referrer") or (
            holder if holder.get("id") and holder.get("id") != customer_id else None
        )
        campaign_raw = _dict(data.get("campaign"))
        where = "data.customer"
        # `id` names one sendout; `event.id` the event, the same in every retry of it.
        upstream = _dict(body.get("event")).get("id") or body.get("id")
    fields, voucherify_id = voucherify_customer(customer_raw)
    if fields is None:
        raise NoCustomerError([FieldError(where, "the event names no customer")])
    if upstream is not None and (not isinstance(upstream, str) or len(upstream) > 200):
        raise InvalidInputError([FieldError("id", "must be a string of at most 200 characters")])
    campaign = None
    if campaign_raw.get("id") or voucher.get("campaign_id"):
        campaign = {
            "id": campaign_raw.get("id") or voucher.get("campaign_id"),
            "name": campaign_raw.get("name") or voucher.get("campaign"),
        }
    referrer, referrer_id = voucherify_customer(referrer_raw)
    return {
        "fields": fields,
        "voucherify_id": voucherify_id,
        "referrer": (referrer, referrer_id) if referrer is not None else None,
        "upstream_id": upstream or None,
        "created_at": body.get("created_at") if isinstance(body.get("created_at"), str) else None,
        "campaign": campaign,
        "code": _code(voucher),
        "reward": voucherify_reward(
            reward=reward_raw, redemption=redemption, voucher=voucher, balance=balance
        ),
        "order": _order(order_raw),
    }
