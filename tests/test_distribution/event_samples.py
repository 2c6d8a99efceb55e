"""Event bodies as upstream systems send them, shared by the engine and the API tests."""

from __future__ import annotations

import copy
from typing import Any

VOUCHERIFY_REDEMPTION: dict[str, Any] = {
    "id": "evcus_0dc1a5e7f7a8e2b1c4",
    "object": "event",
    "type": "redemption.succeeded",
    "created_at": "2026-11-25T10:00:00.000Z",
    "data": {
        "object": {
            "id": "r_0dc1a5e7f7a8e2b1c5",
            "object": "redemption",
            "date": "2026-11-25T10:00:00.000Z",
            "result": "SUCCESS",
            "customer_id": "cust_VfHgQ1c4tPq2",
            "customer": {
                "id": "cust_VfHgQ1c4tPq2",
                "source_id": "shop-7",
                "name": "Grace Hopper",
                "email": "grace@example.com",
                "object": "customer",
            },
            "voucher": {
                "code": "FRIEND-7Q2X",
                "campaign": "Referral 2026",
                "campaign_id": "camp_referral",
                "object": "voucher",
            },
            "order": {"id": "ord_1", "source_id": "1001", "amount": 12900, "object": "order"},
            "reward": {
                "type": "CAMPAIGN",
                "name": "Store credit",
                "amount": 1500,
                "currency": "EUR",
            },
        },
        "related_object": None,
    },
}

#: Voucherify's customer id of the seed's customer, who has no source_id in Voucherify.
SEED_CUSTOMER_ID = "cust_KiFZ6Xw3nD8ZJ2qT5bHcL9mR"

#: The seed's ``redemption.succeeded`` as a Voucherify project webhook (v2018-08-01) posts it: a
#: gift card redemption of EUR 15.00 by a customer Voucherify knows only by its own id.
VOUCHERIFY_SEED_REDEMPTION: dict[str, Any] = {
    "id": "evcus_0c1a8c5f1b9e4a7d3f",
    "object": "event",
    "webhook_id": "wh_0c1a8b3e2f5d6c7a89",
    "project_id": "proj_f1r5tPr0j3ct",
    "created_at": "2026-11-25T10:00:00.118Z",
    "type": "redemption.succeeded",
    "data": {
        "object": {
            "id": "r_0c1a8c5f1b9e4a7d40",
            "object": "redemption",
            "date": "2026-11-25T10:00:00.102Z",
            "customer_id": SEED_CUSTOMER_ID,
            "tracking_id": "track_Xw3nD8ZJ2qT5bHcL9mR+KiFZ6",
            "metadata": {"store": "web"},
            "amount": 1500,
            "result": "SUCCESS",
            "status": "SUCCEEDED",
            "order": {
                "id": "ord_0c1a8c5e9d7b6a5f43",
                "source_id": "1001",
                "status": "PAID",
                "amount": 4990,
                "discount_amount": 0,
                "total_amount": 4990,
                "applied_discount_amount": 1500,
                "total_applied_discount_amount": 1500,
                "items": [
                    {
                        "object": "order_item",
                        "source_id": "sku-tee-m",
                        "related_object": "sku",
                        "quantity": 1,
                        "amount": 4990,
                        "price": 4990,
                        "product": {"name": "Logo tee"},
                        "sku": {"sku": "Logo tee M", "source_id": "sku-tee-m"},
                    }
                ],
                "metadata": {},
                "customer_id": SEED_CUSTOMER_ID,
                "object": "order",
            },
            "customer": {
                "id": SEED_CUSTOMER_ID,
                "name": None,
                "email": None,
                "source_id": None,
                "metadata": {},
                "object": "customer",
            },
            "related_object_type": "voucher",
            "related_object_id": "v_8ZJ2qT5bHcL9mRKiFZ6Xw3nD",
            "voucher": {
                "id": "v_8ZJ2qT5bHcL9mRKiFZ6Xw3nD",
                "code": "GIFT-9X2K",
                "campaign": "Gift cards 2026",
                "campaign_id": "camp_g1ftC4rds2026",
                "category": None,
                "type": "GIFT_VOUCHER",
                "discount": None,
                "gift": {"amount": 5000, "balance": 3500, "effect": "APPLY_TO_ORDER"},
                "loyalty_card": None,
                "start_date": None,
                "expiration_date": "2027-12-31T23:59:59.000Z",
                "active": True,
                "is_referral_code": False,
                "holder_id": SEED_CUSTOMER_ID,
                "object": "voucher",
            },
            "gift": {"amount": 1500},
            "channel": {"channel_id": "user_0c1a8b2d", "channel_type": "API"},
        },
        "related_object": None,
    },
    "metadata": {"source": "API"},
}

#: The same redemption as a v2024-01-01 project webhook: the objects sit in ``data`` directly.
VOUCHERIFY_V2024_REDEMPTION: dict[str, Any] = {
    "id": "whs_0e16e42bc6e0c65b57",
    "project_id": "proj_f1r5tPr0j3ct",
    "created_at": "2026-11-25T10:00:00.118Z",
    "type": "redemption.succeeded",
    "data": {
        "customer": copy.deepcopy(VOUCHERIFY_SEED_REDEMPTION["data"]["object"]["customer"]),
        "order": copy.deepcopy(VOUCHERIFY_SEED_REDEMPTION["data"]["object"]["order"]),
        "campaign": {
            "id": "camp_g1ftC4rds2026",
            "name": "Gift cards 2026",
            "campaign_type": "GIFT_VOUCHERS",
            "type": "AUTO_UPDATE",
            "object": "campaign",
        },
        "voucher": copy.deepcopy(VOUCHERIFY_SEED_REDEMPTION["data"]["object"]["voucher"]),
        "holder": {"id": SEED_CUSTOMER_ID, "object": "customer"},
        "redemption": {
            "id": "r_0c1a8c5f1b9e4a7d40",
            "object": "redemption",
            "date": "2026-11-25T10:00:00.102Z",
            "customer_id": SEED_CUSTOMER_ID,
            "amount": 1500,
            "result": "SUCCESS",
            "status": "SUCCEEDED",
            "gift": {"amount": 1500},
            "metadata": {"store": "web"},
        },
        "created_at": "2026-11-25T10:00:00.102Z",
    },
    "source": {"channel": "API", "user": None},
    "event": {
        "id": "evcus_0c1a8c5f1b9e4a7d3f",
        "type": "customer.redemption.succeeded",
        "category": "ACTION",
        "group_id": "v2024_0c1a8c5f1b",
    },
}

#: v2024-01-01 ``customer.rewarded``: a referral reward (EUR 10 of gift credit) for the referrer.
VOUCHERIFY_V2024_REFERRER_REWARDED: dict[str, Any] = {
    "id": "whs_0e16e42bc6e0c65c01",
    "project_id": "proj_f1r5tPr0j3ct",
    "created_at": "2026-11-26T09:30:00.000Z",
    "type": "customer.rewarded",
    "data": {
        "customer": {
            "id": "cust_Adv0c4t3Bruno",
            "name": "Bruno Lima",
            "email": "bruno@example.com",
            "source_id": "shop-8",
            "object": "customer",
        },
        "holder": {"id": "cust_Adv0c4t3Bruno", "object": "customer"},
        "voucher": {
            "id": "v_r3f3rr4lc0d3",
            "code": "BRUNO-REF",
            "campaign": "Referral 2026",
            "campaign_id": "camp_referral",
            "type": "DISCOUNT_VOUCHER",
            "is_referral_code": True,
            "object": "voucher",
        },
        "campaign": {"id": "camp_referral", "name": "Referral 2026", "object": "campaign"},
        "reward": {
            "id": "rew_gIftCr3d1t",
            "name": "EUR 10 gift credit",
            "type": "CAMPAIGN",
            "object": "reward",
            "parameters": {
                "campaign": {"id": "camp_g1ftC4rds2026", "balance": 1000, "type": "GIFT_VOUCHERS"}
            },
        },
        "referral_tier": {"id": "tier_1", "campaign_id": "camp_referral"},
        "balance": {"amount": 1000, "balance": 1000, "type": "gift_voucher", "object": "balance"},
    },
    "source": {"channel": "API", "user": None},
    "event": {"id": "evcus_0e16e42bc6e0c6rew", "type": "customer.rewarded"},
}

#: v2024-01-01 ``voucher.published``: a 15 % discount code published to a customer.
VOUCHERIFY_V2024_PUBLISHED: dict[str, Any] = {
    "id": "whs_0e16e42bc6e0c65c77",
    "project_id": "proj_f1r5tPr0j3ct",
    "created_at": "2026-11-27T08:00:00.000Z",
    "type": "voucher.published",
    "data": {
        "customer": {
            "id": "cust_IdgAFZxYwwHctOk9",
            "name": "Jack Webhook",
            "email": "jack@example.com",
            "source_id": "jck-wbhk",
            "metadata": {"region": "EMEA"},
            "object": "customer",
        },
        "campaign": {"id": "camp_welcome", "name": "Welcome 15", "object": "campaign"},
        "publication": {"id": "pub_mLP4jygSMXfV", "object": "publication", "result": "SUCCESS"},
        "voucher": {
            "id": "v_hjQhSsitD6lAATAS",
            "code": "WELCOME-15-JK",
            "campaign": "Welcome 15",
            "campaign_id": "camp_welcome",
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "PERCENT", "percent_off": 15, "effect": "APPLY_TO_ORDER"},
            "expiration_date": "2027-01-31T23:59:59.000Z",
            "assets": {"qr": {"id": "qr_1", "url": "https://dl.voucherify.io/api/v1/assets/qr/1"}},
            "object": "voucher",
        },
    },
    "source": {"channel": "Automation", "user": None},
    "event": {"id": "evcus_0e16e42bc6e0c6pub", "type": "voucher.published"},
}
