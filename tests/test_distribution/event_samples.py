"""Event bodies as upstream systems send them, shared by the engine and the API tests."""

from __future__ import annotations

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
