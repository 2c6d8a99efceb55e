"""Request and response bodies of ``/v1/campaigns``, ``/v1/code-pools`` and ``/v1/codes``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

__all__ = [
    "AssignIn",
    "CampaignIn",
    "CampaignOut",
    "CodeOut",
    "CodesAdded",
    "GenerateIn",
    "PoolChange",
    "PoolIn",
    "PoolOut",
    "RefusedRow",
]


class CampaignIn(msgspec.Struct, forbid_unknown_fields=True):
    """A campaign; ``referral_url_template`` must contain ``{code}``."""

    name: str
    type: Literal["referral", "promotion", "loyalty", "gift"] = "referral"
    description: str | None = None
    metadata: dict[str, Any] | None = None
    referral_url_template: str | None = None


class CampaignOut(msgspec.Struct):
    id: str
    name: str
    type: str
    description: str | None
    metadata: dict[str, Any]
    referral_url_template: str | None
    created_at: datetime
    object: str = "campaign"


class PoolIn(msgspec.Struct, forbid_unknown_fields=True):
    """A pool of the campaign; ``code_pool.low_stock`` fires below ``low_stock_threshold``."""

    campaign: str
    name: str
    low_stock_threshold: int | None = None


class PoolChange(msgspec.Struct, forbid_unknown_fields=True):
    """A new low-stock threshold (``null`` removes it); the warning is judged again at once."""

    low_stock_threshold: int | None


class PoolOut(msgspec.Struct):
    id: str
    campaign_id: str
    name: str
    low_stock_threshold: int | None
    total: int
    assigned: int
    available: int
    revoked: int
    created_at: datetime
    object: str = "code_pool"


class GenerateIn(msgspec.Struct, forbid_unknown_fields=True):
    """Voucherify-style code config: ``#`` digit, ``?`` letter, ``*`` any charset character."""

    count: int
    length: int | None = None
    charset: str | None = None
    prefix: str = ""
    postfix: str = ""
    pattern: str | None = None
    #: Store nothing: answer how many distinct codes the config can make and a few examples.
    dry_run: bool = False


class RefusedRow(msgspec.Struct):
    row: int
    code: str
    reason: str


class CodesAdded(msgspec.Struct):
    """Codes added, and the first refused rows (duplicates, invalid codes) with the reason.

    A generation also answers ``combinations`` (how many distinct codes its config can make);
    a dry run adds nothing and answers a few ``examples`` of what it would make.
    """

    added: int
    rejected: int
    rejected_rows: list[RefusedRow]
    pool: PoolOut
    combinations: int | None = None
    examples: list[str] = msgspec.field(default_factory=list)
    dry_run: bool = False


class AssignIn(msgspec.Struct, forbid_unknown_fields=True):
    """The customer (our id or their ``source_id``)."""

    customer: str


class CodeOut(msgspec.Struct):
    code: str
    pool_id: str
    campaign_id: str
    status: str
    customer_id: str | None
    assigned_at: datetime | None
    referral_url: str | None
    qr_url: str
    created: bool
    queued_messages: int
    object: str = "code"
