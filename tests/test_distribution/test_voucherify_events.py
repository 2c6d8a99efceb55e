"""Voucherify's webhook bodies (both versions) and custom events, read into one event shape."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from distribution.errors import InvalidInputError
from distribution.events.event_input import parse_event
from distribution.events.voucherify_events import voucherify_reward
from tests.test_distribution.event_samples import (
    SEED_CUSTOMER_ID,
    VOUCHERIFY_SEED_REDEMPTION,
    VOUCHERIFY_V2024_PUBLISHED,
    VOUCHERIFY_V2024_REDEMPTION,
    VOUCHERIFY_V2024_REFERRER_REWARDED,
)

GIFT_CREDIT = {
    "type": "credit",
    "amount": 1500,
    "unit": "money",
    "currency": None,
    "description": "store credit",
}


@pytest.mark.parametrize("body", [VOUCHERIFY_SEED_REDEMPTION, VOUCHERIFY_V2024_REDEMPTION])
def test_the_seed_redemption_reads_the_same_in_both_versions(body: dict[str, Any]) -> None:
    event = parse_event(copy.deepcopy(body))
    assert (event.type, event.source) == ("redemption.succeeded", "voucherify")
    # v2024's `id` names one sendout; the event's own id is what a retry repeats.
    assert event.upstream_id == "evcus_0c1a8c5f1b9e4a7d3f"
    assert event.created_at == "2026-11-25T10:00:00.118Z"
    assert event.customer.voucherify_id == SEED_CUSTOMER_ID
    assert event.customer.source_id == f"voucherify:{SEED_CUSTOMER_ID}"
    assert event.reward == GIFT_CREDIT
    assert event.code is not None
    assert event.code["code"] == "GIFT-9X2K"
    assert event.campaign == {"id": "camp_g1ftC4rds2026", "name": "Gift cards 2026"}
    assert event.order is not None
    assert event.order["id"] == "1001"
    assert event.order["items"] == [
        {"name": "Logo tee", "quantity": 1, "amount": 4990, "sku": "sku-tee-m"}
    ]
    assert event.data == body["data"]


def test_a_referral_reward_goes_to_the_referrer_as_gift_credit() -> None:
    event = parse_event(copy.deepcopy(VOUCHERIFY_V2024_REFERRER_REWARDED))
    assert event.type == "customer.rewarded"
    assert (event.customer.source_id, event.customer.voucherify_id) == (
        "shop-8",
        "cust_Adv0c4t3Bruno",
    )
    assert event.reward == {
        "type": "credit",
        "amount": 1000,
        "unit": "money",
        "currency": None,
        "description": "EUR 10 gift credit",
    }
    assert event.upstream_id == "evcus_0e16e42bc6e0c6rew"


def test_a_published_voucher_carries_its_discount_and_qr() -> None:
    event = parse_event(copy.deepcopy(VOUCHERIFY_V2024_PUBLISHED))
    assert event.reward == {
        "type": "discount",
        "amount": 15,
        "unit": "percent",
        "currency": None,
        "description": "15% off",
    }
    assert event.code is not None
    assert event.code["qr_url"] == "https://dl.voucherify.io/api/v1/assets/qr/1"


@pytest.mark.parametrize(
    ("voucher", "expected"),
    [
        ({"discount": {"type": "AMOUNT", "amount_off": 500}}, ("discount", 500, "money")),
        ({"discount": {"type": "UNIT", "unit_off": 2}}, ("discount", 2, "units")),
        ({"gift": {"amount": 2500, "balance": 2500}}, ("credit", 2500, "money")),
        ({"loyalty_card": {"points": 120}}, ("points", 120, "points")),
    ],
)
def test_what_a_voucher_gives_is_one_reward_shape(
    voucher: dict[str, Any], expected: tuple[str, int, str]
) -> None:
    reward = voucherify_reward(reward=None, redemption=None, voucher=voucher)
    assert reward is not None
    assert (reward["type"], reward["amount"], reward["unit"]) == expected
    assert reward["description"]


def test_loyalty_rewards_and_points_spent_are_points() -> None:
    loyalty = {
        "type": "CAMPAIGN",
        "name": "200 bonus points",
        "parameters": {"campaign": {"balance": 200, "type": "LOYALTY_PROGRAM"}},
    }
    assert voucherify_reward(reward=loyalty, redemption=None, voucher=None) == {
        "type": "points",
        "amount": 200,
        "unit": "points",
        "currency": None,
        "description": "200 bonus points",
    }
    spent = voucherify_reward(reward=None, redemption={"loyalty_card": {"points": 30}}, voucher={})
    assert spent is not None
    assert (spent["type"], spent["amount"]) == ("points", 30)


def test_a_body_naming_no_customer_is_refused_with_the_field() -> None:
    body = copy.deepcopy(VOUCHERIFY_V2024_PUBLISHED)
    del body["data"]["customer"]
    with pytest.raises(InvalidInputError) as refused:
        parse_event(body)
    assert [e.field for e in refused.value.errors] == ["data.customer"]


def test_a_custom_event_is_an_event_named_after_it() -> None:
    event = parse_event(
        {
            "event": "newsletter_subscribed",
            "customer": {"source_id": "shop-42", "email": "ada@example.com"},
            "metadata": {"list": "weekly"},
            "referral": {"code": "ADA-REF", "referrer_id": "shop-7"},
        },
        idempotency_key="k-1",
    )
    assert (event.type, event.source, event.upstream_id) == (
        "newsletter_subscribed",
        "custom_event",
        "k-1",
    )
    assert event.customer.source_id == "shop-42"
    assert event.code == {"code": "ADA-REF"}
    assert event.referrer is not None
    assert event.referrer.source_id == "shop-7"
    assert event.data["metadata"] == {"list": "weekly"}


def test_a_bad_custom_event_names_each_field() -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_event({"event": "not a name!", "customer": {"source_id": "x"}, "loyalty": 3})
    assert sorted(e.field for e in refused.value.errors) == ["event", "loyalty"]
