"""The variables a template can use, with example values, and the filters it can apply.

`VARIABLE_SCHEMA` and `FILTER_SCHEMA` are plain JSON-serialisable data: the editor lists them in
its "Variables and filters" panel (descriptions, and buttons that insert a variable or a filter
example at the cursor) and completes them in the code after `{{` and `|`;
`GET /v1/templates/variables` returns them as they are. `sample_context()` builds the editor's
prefilled sample data from the examples.

Each field's ``provided_for`` lists the sends that always fill it: ``*`` is every event-triggered
send, ``bulk`` a bulk send, anything else the distribution trigger of that name. A field not
listed for a trigger is there only when the data has it (a customer's phone, an event's reward):
a strict template should give it a `default`. A test posts each listed trigger's event and
renders every field listed for it, so this promise cannot drift from what ingestion provides.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "DEPRECATED_ALIASES",
    "EVERY_EVENT",
    "FILTER_SCHEMA",
    "VARIABLE_SCHEMA",
    "sample_context",
    "with_aliases",
]


#: Every event-triggered send, whatever its trigger.
EVERY_EVENT = "*"
_ALWAYS = (EVERY_EVENT, "bulk")
#: Sends that always carry a code and its campaign.
_CODE_TRIGGERS = ("code.assigned", "voucher.published", "bulk")
#: Sends triggered by a customer entering or leaving a segment.
_SEGMENT_TRIGGERS = ("customer.segment.entered", "customer.segment.left")


def _field(
    kind: str, description: str, example: Any, provided_for: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "type": kind,
        "description": description,
        "example": example,
        "provided_for": list(provided_for),
    }


def _group(description: str, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "object", "description": description, "fields": fields}


_ADDRESS_EXAMPLE = {
    "line_1": "12 Rua Augusta",
    "line_2": None,
    "city": "São Paulo",
    "postal_code": "01305-000",
    "state": "SP",
    "country": "BR",
}

_PERSON_FIELDS = {
    "id": _field("string", "Our id of the customer.", "cus_01HZX3", _ALWAYS),
    "source_id": _field("string", "The customer's id in your own system.", "crm-4711"),
    "name": _field("string", "Full name.", "Ana Souza"),
    "first_name": _field("string", "First name, for greetings.", "Ana"),
    "email": _field("string", "Email address.", "ana.souza@example.com"),
    "phone": _field("string", "Phone number in E.164 format.", "+5511987654321"),
    "address": _field(
        "object",
        "Postal address: line_1, line_2, city, postal_code, state, country (ISO 3166 code).",
        _ADDRESS_EXAMPLE,
    ),
    "locale": _field(
        "string", "Preferred language as a BCP 47 tag; drives `money`/`date`.", "pt-BR"
    ),
    "timezone": _field("string", "IANA time zone; drives `date`/`datetime`.", "America/Sao_Paulo"),
    "metadata": _field(
        "object", "Free-form attributes you sent with the customer.", {"tier": "gold"}, _ALWAYS
    ),
}

#: Every variable group a template can use: name -> {type, description, fields}.
#: Each field has a type (string, integer, number, boolean, date, datetime, object, array),
#: a description for the editor, and an example value used by `sample_context()`.
VARIABLE_SCHEMA: dict[str, dict[str, Any]] = {
    "customer": _group("The recipient of the message.", _PERSON_FIELDS),
    "code": _group(
        "The referral or promotion code assigned to the recipient.",
        {
            "code": _field("string", "The code itself.", "ANA-7K2Q", _CODE_TRIGGERS),
            "campaign": _field(
                "string", "Name of the campaign the code belongs to.", "Spring referral"
            ),
            "expiration_date": _field(
                "datetime", "When the code expires (ISO 8601).", "2026-06-30T23:59:00Z"
            ),
            "qr_url": _field(
                "string",
                "URL of a QR code image for the code.",
                "https://cdn.example.com/qr/ANA-7K2Q.png",
                _CODE_TRIGGERS,
            ),
            "referral_link": _field(
                "string",
                "Shareable link that carries the code (when the campaign has a referral URL "
                "template). Formerly `code.referral_url`, which sends still fill.",
                "https://shop.example.com/r/ANA-7K2Q",
            ),
            "pool_id": _field(
                "string",
                "Our id of the code pool the code came from.",
                "pool_01HZX7",
                ("code.assigned",),
            ),
        },
    ),
    "reward": _group(
        "The reward granted or promised, when the event carries one (docs/voucherify.md).",
        {
            "type": _field(
                "string", "Kind of reward: credit, discount, points, product.", "credit"
            ),
            "amount": _field(
                "number",
                "How much, counted in `unit`: minor units (cents) of money, format it with "
                "`money`; a percentage; items; points.",
                2500,
            ),
            "unit": _field("string", "What amount counts: money, percent, units, points.", "money"),
            "currency": _field("string", "ISO 4217 currency code, where known.", "BRL"),
            "description": _field(
                "string", "Human description of the reward.", "R$ 25 store credit"
            ),
        },
    ),
    "referrer": _group(
        "The advocate who invited the recipient (messages to an invited friend).",
        {
            "id": _field("string", "Our id of the referrer.", "cus_01HZW9"),
            "name": _field("string", "Full name.", "Bruno Lima"),
            "first_name": _field("string", "First name.", "Bruno"),
            "email": _field("string", "Email address.", "bruno.lima@example.com"),
        },
    ),
    "campaign": _group(
        "The campaign the message belongs to.",
        {
            "id": _field("string", "Our id of the campaign.", "cmp_spring", _CODE_TRIGGERS),
            "name": _field("string", "Campaign name.", "Spring referral", _CODE_TRIGGERS),
            "type": _field(
                "string",
                "Kind of campaign: referral, promotion...",
                "referral",
                ("code.assigned", "bulk"),
            ),
            "description": _field("string", "Campaign description.", "Give R$ 25, get R$ 25"),
            "metadata": _field(
                "object", "Free-form attributes of the campaign.", {"season": "spring"}, ("bulk",)
            ),
            "start_date": _field("datetime", "Start of the campaign.", "2026-03-01T00:00:00Z"),
            "end_date": _field("datetime", "End of the campaign.", "2026-06-30T23:59:00Z"),
        },
    ),
    "order": _group(
        "The order that triggered the message, if any.",
        {
            "id": _field("string", "Order id in your system.", "ORD-1042"),
            "amount": _field("integer", "Order total in minor units.", 18990),
            "currency": _field("string", "ISO 4217 currency code.", "BRL"),
            "items": _field(
                "array",
                "Line items: name, quantity, amount (minor units), sku.",
                [
                    {"name": "Trail shoes", "quantity": 1, "amount": 15990, "sku": "SHO-1"},
                    {"name": "Running socks", "quantity": 2, "amount": 1500, "sku": "SOC-2"},
                ],
            ),
        },
    ),
    "event": _group(
        "The raw event that triggered the message (its shape depends on the event).",
        {
            "type": _field("string", "Event type.", "redemption.succeeded", (EVERY_EVENT,)),
            "id": _field(
                "string",
                "Our id of the event (the `id` POST /v1/events answers).",
                "evt_9f2c",
                (EVERY_EVENT,),
            ),
            "created_at": _field(
                "datetime",
                "When the event happened upstream (its `created_at`), else when it arrived.",
                "2026-04-02T14:30:00Z",
                (EVERY_EVENT,),
            ),
            "data": _field(
                "object",
                "The event payload as received.",
                {"voucher": "ANA-7K2Q"},
                (EVERY_EVENT,),
            ),
        },
    ),
    "segment": _group(
        "The segment a customer entered or left (customer.segment.entered / .left).",
        {
            "id": _field("string", "Our id of the segment.", "seg_01HZX9", _SEGMENT_TRIGGERS),
            "name": _field("string", "Name of the segment.", "Gold members", _SEGMENT_TRIGGERS),
        },
    ),
    "links": _group(
        "Links every message should carry.",
        {
            "unsubscribe_url": _field(
                "string",
                "One-click unsubscribe link.",
                "https://mail.example.com/u/abc123",
                _ALWAYS,
            ),
            "preferences_url": _field(
                "string", "Preference centre link.", "https://mail.example.com/p/abc123", _ALWAYS
            ),
        },
    ),
    "project": _group(
        "The sender (your company).",
        {
            "name": _field("string", "Company or brand name.", "Trailhead Outfitters", _ALWAYS),
            "postal_address": _field(
                "string",
                "Postal address required in marketing email.",
                "Av. Paulista 1000, São Paulo, BR",
            ),
        },
    ),
}

#: Older names sends still fill, each with the schema's name for the same value. Templates saved
#: before the names were unified keep working; the editor warns (`deprecated-variable`).
DEPRECATED_ALIASES: dict[str, str] = {"code.referral_url": "code.referral_link"}


def with_aliases(group: str, values: dict[str, Any]) -> dict[str, Any]:
    """`values` of `group` plus the deprecated names of the fields it has (same values)."""
    out = dict(values)
    for old, new in DEPRECATED_ALIASES.items():
        old_group, old_name = old.split(".", 1)
        new_group, new_name = new.split(".", 1)
        if old_group == group == new_group and new_name in values:
            out[old_name] = values[new_name]
    return out


#: Filters a template can use, with an example and what it prints for `sample_context()`.
FILTER_SCHEMA: list[dict[str, str]] = [
    {
        "name": "money",
        "signature": "money(currency=reward.currency, locale=customer.locale)",
        "description": "Minor units (cents) to a localised amount.",
        "example": "{{ reward.amount | money(reward.currency) }}",
        "output": "R$\u00a025,00",
    },
    {
        "name": "date",
        "signature": "date(format='medium', locale=customer.locale)",
        "description": "A localised date in the customer's zone (short, long, a pattern...).",
        "example": "{{ code.expiration_date | date('long') }}",
        "output": "30 de junho de 2026",
    },
    {
        "name": "datetime",
        "signature": "datetime(format='medium', timezone=customer.timezone, locale=...)",
        "description": "A localised date and time in the customer's time zone.",
        "example": "{{ event.created_at | datetime('short') }}",
        "output": "02/04/2026 11:30",
    },
    {
        "name": "default",
        "signature": "default(value)",
        "description": "A fallback when the variable is missing (then it is not reported missing).",
        "example": "{{ customer.first_name | default('there') }}",
        "output": "Ana",
    },
    {
        "name": "upper",
        "signature": "upper",
        "description": "Upper case.",
        "example": "{{ code.code | upper }}",
        "output": "ANA-7K2Q",
    },
    {
        "name": "lower",
        "signature": "lower",
        "description": "Lower case.",
        "example": "{{ customer.email | lower }}",
        "output": "ana.souza@example.com",
    },
    {
        "name": "title",
        "signature": "title",
        "description": "Title Case.",
        "example": "{{ customer.name | title }}",
        "output": "Ana Souza",
    },
    {
        "name": "capitalize",
        "signature": "capitalize",
        "description": "First letter upper case, rest lower.",
        "example": "{{ customer.first_name | capitalize }}",
        "output": "Ana",
    },
    {
        "name": "trim",
        "signature": "trim",
        "description": "Strip surrounding spaces.",
        "example": "{{ customer.name | trim }}",
        "output": "Ana Souza",
    },
    {
        "name": "truncate",
        "signature": "truncate(length=255, killwords=False, end='...')",
        "description": "Shorten long text.",
        "example": "{{ campaign.description | truncate(12) }}",
        "output": "Give R$...",
    },
    {
        "name": "replace",
        "signature": "replace(old, new)",
        "description": "Replace text.",
        "example": "{{ code.code | replace('-', '') }}",
        "output": "ANA7K2Q",
    },
    {
        "name": "urlencode",
        "signature": "urlencode",
        "description": "Escape for use inside a URL.",
        "example": "{{ customer.first_name | urlencode }}",
        "output": "Ana",
    },
    {
        "name": "length",
        "signature": "length",
        "description": "Number of items or characters.",
        "example": "{{ order.items | length }}",
        "output": "2",
    },
    {
        "name": "join",
        "signature": "join(separator='')",
        "description": "Join a list.",
        "example": "{{ order.items | map(attribute='name') | join(', ') }}",
        "output": "Trail shoes, Running socks",
    },
    {
        "name": "first",
        "signature": "first",
        "description": "First item of a list.",
        "example": "{{ (order.items | first).name }}",
        "output": "Trail shoes",
    },
    {
        "name": "round",
        "signature": "round(precision=0)",
        "description": "Round a number.",
        "example": "{{ 2.567 | round(1) }}",
        "output": "2.6",
    },
]


def sample_context() -> dict[str, Any]:
    """Sample data built from the schema's examples (a fresh deep copy each call)."""
    # Deprecated names are filled as sends fill them, so a preview matches the send.
    return {
        group: with_aliases(
            group,
            {name: copy.deepcopy(spec["example"]) for name, spec in info["fields"].items()},
        )
        for group, info in VARIABLE_SCHEMA.items()
    }
