"""Event webhooks of a source connection (Voucherify): verify, parse, complete the customer, ingest.

Voucherify posts to the connection's ``callback_url`` with no API key: the signature is the only
authentication, and nothing is stored unless it matches. A retry of a stored event (Voucherify
retries hourly for three days) answers with the stored result, before anything else is done.

An event may name its customer by Voucherify's id alone, without an email address or a phone
number. When the connection has API credentials and our customer has no contact data either,
the customer is read from Voucherify's customers API before the event is ingested: no
transaction is open during that call. A failure to read it is noted on the event, which is kept
(its deliveries then fail with the reason, as for any customer without an address).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import anyio
import msgspec

from distribution.customers.external_ids import find_by_external_id
from distribution.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from distribution.events.event_input import CustomerRef, IncomingEvent, parse_event
from distribution.events.ingest import VOUCHERIFY, IngestResult, receive_event, stored_result
from distribution.events.voucherify_events import (
    NoCustomerError,
    has_contact,
    is_voucherify_body,
    voucherify_customer,
)
from distribution.outbox import LinkSettings
from distribution.provider_configs.callbacks import CallbackRequest, verify_source_webhook
from distribution.provider_configs.registry import ProviderRegistry
from distribution.storage.db import Database
from providers import ProviderError

__all__ = ["receive_source_webhook"]

log = logging.getLogger(__name__)


def _parse(body: bytes) -> IncomingEvent:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInputError([FieldError("body", "must be a JSON object")]) from None
    if not isinstance(data, dict) or not is_voucherify_body(data):
        raise InvalidInputError([FieldError("body", "is not a Voucherify webhook")])
    return parse_event(data)


def _with_currency(incoming: IncomingEvent, currency: Any) -> IncomingEvent:
    """Amounts without a currency are in the Voucherify project's, when the connection says."""
    if not isinstance(currency, str):
        return incoming
    reward, order = incoming.reward, incoming.order
    return replace(
        incoming,
        reward={**reward, "currency": reward.get("currency") or currency} if reward else None,
        order={**order, "currency": order.get("currency") or currency} if order else None,
    )


def _needs_customer(db: Database, project_id: str, incoming: IncomingEvent) -> bool:
    """Whether neither the event nor our linked customer has an email address or a phone."""
    ref = incoming.customer
    if ref.voucherify_id is None or has_contact(ref.fields):
        return False
    with db.reader() as session:
        known = find_by_external_id(session, project_id, VOUCHERIFY, ref.voucherify_id)
        return known is None or not (known.email or known.phone)


async def _fetched_customer(
    registry: ProviderRegistry, project_id: str, name: str, incoming: IncomingEvent
) -> IncomingEvent:
    ref = incoming.customer
    assert ref.voucherify_id is not None  # checked by _needs_customer
    try:
        source = await registry.event_source(project_id, name)
        found = await source.fetch_customer(ref.voucherify_id)
    except (ProviderError, ConflictError, NotFoundError) as error:
        note = f"the customer could not be read from Voucherify: {error}"
        log.info("source %s/%s: %s", project_id, name, note)
        return replace(incoming, notes=(*incoming.notes, note))
    if found is None:  # no API credentials: nothing to ask
        return incoming
    fields, _ = voucherify_customer(found)
    if fields is None:
        note = "the customer read from Voucherify has neither an id nor a source_id"
        return replace(incoming, notes=(*incoming.notes, note))
    if ref.fields is not None:
        # What the event says wins over the stored record, field by field.
        given = {
            k: v
            for k, v in msgspec.structs.asdict(ref.fields).items()
            if v is not msgspec.UNSET and k != "source_id"
        }
        fields = msgspec.structs.replace(fields, **given)
    customer = CustomerRef(
        source_id=fields.source_id if isinstance(fields.source_id, str) else None,
        fields=fields,
        voucherify_id=ref.voucherify_id,
    )
    return replace(incoming, customer=customer)


async def receive_source_webhook(
    db: Database,
    registry: ProviderRegistry,
    links: LinkSettings,
    project_id: str,
    name: str,
    request: CallbackRequest,
) -> IngestResult | None:
    """Verify and ingest one webhook posted to the source ``name``; raises what it answers.

    None when the (signed) event is about no customer: a project webhook sends every event its
    owner ticked, campaigns and products included, and one that is refused is retried for three
    days. Nothing can be distributed for it, so it is acknowledged and not stored.

    Raises:
        AuthenticationError: unsigned, wrongly signed, or no such (enabled) source.
        InvalidInputError: signed, but not a Voucherify webhook this service can read.
    """

    def verify() -> dict[str, Any]:
        with db.reader() as session:
            # An unknown project has no source: the same answer as a wrong signature.
            return verify_source_webhook(session, registry.box, project_id, name, request)

    config = await anyio.to_thread.run_sync(verify)
    try:
        parsed = _parse(request.body)
    except NoCustomerError:
        return None
    incoming = _with_currency(parsed, config.get("currency"))
    if incoming.upstream_id is not None:
        upstream_id = incoming.upstream_id

        def stored() -> IngestResult | None:
            with db.reader() as session:
                return stored_result(session, project_id, upstream_id)

        if (found := await anyio.to_thread.run_sync(stored)) is not None:
            return found
    if await anyio.to_thread.run_sync(_needs_customer, db, project_id, incoming):
        incoming = await _fetched_customer(registry, project_id, name, incoming)
    return await anyio.to_thread.run_sync(receive_event, db, project_id, incoming, links)
