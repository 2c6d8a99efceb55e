"""The one rule of customer sync: which outbox rows a customer's change makes, coalesced.

Every customer write calls ``enqueue_customer_sync`` with the rows it wrote (the API's upserts
and updates, imports, the Voucherify-compatible API and the customers events create all write
through ``distribution.customers.store``; consent changes through ``consent``). For each sync
provider with ``customer_sync`` on, a customer gets one ``profile`` row holding their current
values: name, email, phone, their id on the platform (the provider's ``identity``) and an email
opt-out; never a code. If the customer already has such a row still ``queued``, its content is
replaced instead, so ten changes in a row make one call. A row is due ``customer_sync_delay``
seconds after the first change (later changes do not push it back, so a customer who keeps
changing is still written).

An erasure cancels the customer's queued profile rows (``store._cancel_profile_writes``), then
``enqueue_erasure`` adds one row per target that deletes the user on the platform, holding only
the platform id captured before the scrub; once it is settled, ``forget_erased_recipients``
blanks that id too.

Set-based: an import batch costs a few statements per target, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, or_, select, update
from sqlmodel import Session

from distribution.customer_sync.targets import SyncTarget, sync_targets
from distribution.models import (
    PROFILE_CHANNEL,
    Customer,
    Delivery,
    DeliveryStatusChange,
    Suppression,
    given_names,
    utcnow,
)
from distribution.storage.driver_sql import Among, DriverUpdate, insert_many
from distribution.storage.ids import new_id

__all__ = [
    "ERASE_KEY_PREFIX",
    "KEY_PREFIX",
    "SOURCE",
    "contact_profile",
    "enqueue_customer_sync",
    "enqueue_erasure",
    "forget_erased_recipients",
    "goes_alone",
    "is_erasure",
    "profile_changed",
]

#: ``content.source`` of a customer sync row: what tells it apart in GET /v1/messages.
SOURCE = "customer_sync"
#: The idempotency key prefixes of customer sync rows (coalescing finds its rows by them).
KEY_PREFIX = "customer-sync:"
ERASE_KEY_PREFIX = "customer-sync-erase:"
#: Below triggered messages (0), as bulk sends (10): a large import must not delay them.
PRIORITY = 10
_SLICE = 5_000

_DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
_CHANGES: Table = DeliveryStatusChange.__table__  # type: ignore[attr-defined]
_SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[attr-defined]
# Every column without a database default, in the order ``_insert`` gives them.
_INSERTED = (
    "id",
    "project_id",
    "idempotency_key",
    "customer_id",
    "channel",
    "provider",
    "recipient",
    "status",
    "priority",
    "marketing",
    "attempts",
    "content",
    "created_at",
    "updated_at",
    "next_attempt_at",
)
_CHANGE_COLUMNS = ("delivery_id", "status", "detail", "at")
_REPLACE = DriverUpdate(_DELIVERIES, ("recipient", "content", "updated_at"), "id")
# The queued (never claimed) customer sync rows of some customers at one provider, locked on
# PostgreSQL: a worker claiming one meanwhile moves it to ``sending`` and it is left alone.
_QUEUED = (
    select(_DELIVERIES.c.customer_id, _DELIVERIES.c.id)
    .where(
        Among(_DELIVERIES.c.customer_id, "customers"),
        _DELIVERIES.c.project_id == bindparam("project_id"),
        _DELIVERIES.c.provider == bindparam("provider"),
        _DELIVERIES.c.channel == PROFILE_CHANNEL,
        _DELIVERIES.c.status == "queued",
        _DELIVERIES.c.idempotency_key.startswith(KEY_PREFIX, autoescape=True),
    )
    .with_for_update()
)
_OPTED_OUT = select(_SUPPRESSIONS.c.customer_id, _SUPPRESSIONS.c.address).where(
    or_(
        Among(_SUPPRESSIONS.c.customer_id, "customers"),
        Among(_SUPPRESSIONS.c.address, "addresses"),
    ),
    _SUPPRESSIONS.c.project_id == bindparam("project_id"),
    _SUPPRESSIONS.c.channel == "email",
)


#: The customer columns a customer sync write is made of (``metadata`` may hold the identity).
PROFILE_COLUMNS = ("source_id", "name", "email", "phone", "metadata")


def profile_changed(row: Mapping[str, Any], before: Mapping[str, Any]) -> bool:
    """Whether a customer's change alters what customer sync writes (an address or a
    description alone does not: no call, no data point used on the platform)."""
    return any(row.get(name) != before.get(name) for name in PROFILE_COLUMNS)


def _columns(customer: Customer | Mapping[str, Any]) -> Mapping[str, Any]:
    """A customer as the column dict the store writes (``metadata`` is the column's name)."""
    if not isinstance(customer, Customer):
        return customer
    return {
        "id": customer.id,
        "source_id": customer.source_id,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "metadata": customer.meta or {},
        "erased_at": customer.erased_at,
    }


def _platform_id(customer: Mapping[str, Any], target: SyncTarget) -> str | None:
    return target.identity.value_of(
        source_id=customer.get("source_id"),
        email=customer.get("email"),
        metadata=customer.get("metadata") or {},
    )


def contact_profile(
    customer: Mapping[str, Any], target: SyncTarget, opted_out: bool
) -> dict[str, Any] | None:
    """What a customer sync row writes for the customer (``profile_update`` reads it back);
    None when the customer has no value for the target's identity (nothing to address)."""
    identified = _platform_id(customer, target)
    if identified is None:
        return None
    first, last = given_names(customer.get("name"), customer.get("metadata"))
    values: dict[str, Any] = {
        "email": customer.get("email"),
        "phone": customer.get("phone"),
        "first_name": first,
        "last_name": last,
    }
    profile = {k: v for k, v in values.items() if v is not None}
    profile[target.identity.fills] = identified
    profile["contact"] = True
    if opted_out:
        # Opt-outs only: an opt-in must come from the person, on the platform.
        profile["subscribed"] = False
    return profile


def enqueue_customer_sync(
    session: Session,
    project_id: str,
    customers: Iterable[Customer | Mapping[str, Any]],
    *,
    created: bool = False,
) -> int:
    """Write or refresh the customer sync rows of customers just written; how many rows were
    added or refreshed. ``created`` says none of them existed before (no row to refresh)."""
    targets = sync_targets(session, project_id)
    if not targets:
        return 0
    live = [row for row in map(_columns, customers) if row.get("erased_at") is None]
    if not live:
        return 0
    connection = session.connection()
    opted_out = _opted_out(connection, project_id, live)
    now = utcnow()
    written = 0
    for target in targets:
        profiles = {}
        for row in live:
            profile = contact_profile(row, target, row["id"] in opted_out)
            if profile is not None:
                profiles[row["id"]] = profile
        queued = {} if created else _queued(connection, project_id, target.provider, profiles)
        _REPLACE.execute(
            connection,
            [
                {"recipient": _recipient(p), "content": _content(p), "updated_at": now, "id": i}
                for customer_id, p in profiles.items()
                if (i := queued.get(customer_id)) is not None
            ],
        )
        fresh = {c: p for c, p in profiles.items() if c not in queued}
        _insert(connection, project_id, target, fresh, now + timedelta(seconds=target.delay))
        written += len(profiles)
    return written


def enqueue_erasure(session: Session, project_id: str, customer: Customer) -> int:
    """One row per target deleting the customer on the platform; call it BEFORE the customer's
    personal data is scrubbed (it captures their platform id) and after their queued profile
    rows are cancelled (which would cancel it). The customer's earlier customer sync rows,
    which hold nothing but personal data, are blanked. How many rows it added."""
    now = utcnow()
    session.connection().execute(
        update(_DELIVERIES)
        .where(
            _DELIVERIES.c.customer_id == customer.id,
            _DELIVERIES.c.idempotency_key.startswith(KEY_PREFIX, autoescape=True),
            _DELIVERIES.c.status != "sending",  # settled by its worker, then left as it is
        )
        # Mailchimp's member id is the MD5 of the address: personal data too.
        .values(recipient=None, content={"source": SOURCE}, provider_message_id=None)
    )
    rows = {}
    columns = _columns(customer)
    for target in sync_targets(session, project_id):
        identified = _platform_id(columns, target)
        if identified is not None:
            rows[target] = {target.identity.fills: identified, "erase": True}
    for target, profile in rows.items():
        _insert(session.connection(), project_id, target, {customer.id: profile}, now, erase=True)
    return len(rows)


def forget_erased_recipients(session: Session, delivery_ids: Sequence[str]) -> None:
    """Blank the platform id an erasure row kept, once the row is settled (sent or failed):
    the erased person's address must not stay in the log."""
    if delivery_ids:
        session.connection().execute(
            update(_DELIVERIES)
            .where(
                Among(_DELIVERIES.c.id, "ids"),
                _DELIVERIES.c.idempotency_key.startswith(ERASE_KEY_PREFIX, autoescape=True),
            )
            .values(recipient=None, content={"source": SOURCE, "erase": True}),
            {"ids": list(delivery_ids)},
        )


def is_erasure(content: Mapping[str, Any]) -> bool:
    """Whether a profile row's content is a customer sync erasure."""
    profile = content.get("profile")
    return (
        content.get("source") == SOURCE
        and isinstance(profile, Mapping)
        and bool(profile.get("erase") is True)
    )


def goes_alone(content: Mapping[str, Any]) -> bool:
    """Whether a profile row must be written by its sync's single ``sync()``, not in a batch:
    an erasure (a deletion, not an upsert) or an opt-out (ActiveCampaign's is a call of its
    own that its bulk import cannot make). Both are rare next to code pushes."""
    profile = content.get("profile")
    return (
        content.get("source") == SOURCE
        and isinstance(profile, Mapping)
        and (profile.get("erase") is True or profile.get("subscribed") is False)
    )


def _recipient(profile: Mapping[str, Any]) -> str:
    return str(profile.get("external_id") or profile.get("email"))


def _content(profile: Mapping[str, Any]) -> dict[str, Any]:
    return {"source": SOURCE, "profile": dict(profile)}


def _opted_out(
    connection: Connection, project_id: str, customers: Sequence[Mapping[str, Any]]
) -> set[str]:
    """The ids of the customers suppressed for email, by their id or their address (as
    ``consent.is_suppressed`` decides)."""
    found: set[str] = set()
    for start in range(0, len(customers), _SLICE):
        some = customers[start : start + _SLICE]
        by_address: dict[str, list[str]] = {}
        for row in some:
            if row.get("email"):
                by_address.setdefault(row["email"].lower(), []).append(row["id"])
        addresses = sorted({*by_address, *(r["email"] for r in some if r.get("email"))})
        values = {"customers": [r["id"] for r in some], "addresses": addresses}
        for customer_id, address in connection.execute(
            _OPTED_OUT, values | {"project_id": project_id}
        ):
            if customer_id:
                found.add(customer_id)
            found.update(by_address.get(address.lower(), ()))
    return found


def _queued(
    connection: Connection, project_id: str, provider: str, customers: Mapping[str, Any]
) -> dict[str, str]:
    """The queued customer sync row id of each customer that has one at the provider."""
    wanted = list(customers)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _SLICE):
        values = {
            "customers": wanted[start : start + _SLICE],
            "project_id": project_id,
            "provider": provider,
        }
        found.update((customer_id, id_) for customer_id, id_ in connection.execute(_QUEUED, values))
    return found


def _insert(
    connection: Connection,
    project_id: str,
    target: SyncTarget,
    profiles: Mapping[str, Mapping[str, Any]],
    due: datetime,
    *,
    erase: bool = False,
) -> None:
    if not profiles:
        return
    now = utcnow()
    prefix = ERASE_KEY_PREFIX if erase else KEY_PREFIX
    rows = []
    for customer_id, profile in profiles.items():
        id_ = new_id("msg")
        rows.append(
            (
                id_,
                project_id,
                prefix + id_,
                customer_id,
                PROFILE_CHANNEL,
                target.provider,
                _recipient(profile),
                "queued",
                PRIORITY,
                False,
                0,
                _content(profile),
                now,
                now,
                due,
            )
        )
    insert_many(connection, _DELIVERIES, _INSERTED, rows)
    insert_many(connection, _CHANGES, _CHANGE_COLUMNS, ((r[0], "queued", None, now) for r in rows))
