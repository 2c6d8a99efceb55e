"""Unsubscribing: the signed link in messages (one click, no login, RFC 8058 one-click POST)
and ``POST /v1/customers/{id}/consents`` for the customer's own systems."""

from __future__ import annotations

import asyncio
import html
from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec
from litestar import Controller, MediaType, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath
from sqlmodel import Session

from distribution.customers.consent import (
    UnsubscribeLink,
    consents_of,
    message_of_link,
    read_unsubscribe_token,
    resubscribe_customer,
    unsubscribe_customer,
    unsubscribe_link_refusal,
)
from distribution.customers.store import get_customer
from distribution.errors import DistributionError
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.settings import Settings
from web.stored_times import utc

__all__ = ["ConsentController", "unsubscribe_page", "unsubscribe_post"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.6rem 1.2rem}}</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""
_CHANNEL_NAMES = {"email": "marketing emails", "sms": "marketing text messages"}


def _page(title: str, body: str, status: int = 200) -> Response[str]:
    return Response(
        _PAGE.format(title=html.escape(title), body=body),
        media_type=MediaType.HTML,
        status_code=status,
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


def _link_or_none(settings: Settings, token: str) -> UnsubscribeLink | None:
    try:
        return read_unsubscribe_token(settings.secret_key, token)
    except DistributionError:
        return None


def _not_valid() -> Response[str]:
    return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)


def _refusal(settings: Settings, session: Session, link: UnsubscribeLink) -> Response[str] | None:
    """The page of a link that no longer unsubscribes, or None when it still does."""
    max_age = timedelta(days=settings.unsubscribe_link_days)
    reason = unsubscribe_link_refusal(session, link, max_age)
    if reason is None:
        return None
    return _page("Link expired", f"<p>{html.escape(reason)}</p>", 410)


@get("/u/{token:str}", include_in_schema=False)
async def unsubscribe_page(
    token: FromPath[str], settings: NamedDependency[Settings], db: NamedDependency[Database]
) -> Response[str]:
    """The page behind the link: one button, because mail scanners follow links on their own."""
    link = _link_or_none(settings, token)
    if link is None:
        return _not_valid()

    def refusal_in_thread(link: UnsubscribeLink) -> Response[str] | None:
        with db.reader() as session:
            return _refusal(settings, session, link)

    # Async with a thread of its own: Litestar 2.25 registers this module-level GET function
    # twice, which wraps a sync_to_thread function twice into an unawaited coroutine (a 500).
    refused = await asyncio.to_thread(refusal_in_thread, link)
    if refused is not None:
        return refused
    return _page(
        "Unsubscribe",
        f"<p>Stop receiving {_CHANNEL_NAMES[link.channel]}?</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@post("/u/{token:str}", include_in_schema=False, status_code=200, sync_to_thread=True)
def unsubscribe_post(
    token: FromPath[str], settings: NamedDependency[Settings], db: NamedDependency[Database]
) -> Response[str]:
    """The button, and the RFC 8058 one-click POST mail clients send: unsubscribe at once."""
    link = _link_or_none(settings, token)
    if link is None:
        return _not_valid()
    with db.session() as session:
        refused = _refusal(settings, session, link)
        if refused is not None:
            return refused
        unsubscribe_customer(
            session,
            link.project_id,
            link.customer_id,
            link.channel,
            reason="unsubscribe link",
            delivery_id=message_of_link(session, link, token),
        )
    return _page("Unsubscribed", f"<p>You will receive no more {_CHANNEL_NAMES[link.channel]}.</p>")


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    """``unsubscribed`` adds the customer to the suppression list; ``subscribed`` lifts it."""

    channel: Literal["email", "sms"]
    status: Literal["unsubscribed", "subscribed"]


class ConsentOut(msgspec.Struct):
    customer_id: str
    channel: str
    status: str
    object: str = "consent"


class ConsentChangeOut(msgspec.Struct):
    status: str
    at: datetime
    reason: str | None


class ChannelConsentOut(msgspec.Struct):
    """``unsubscribed`` when marketing on the channel is suppressed for the customer or their
    current address; ``history`` is what is stored: suppressions in force and the last opt-in."""

    channel: str
    status: str
    history: list[ConsentChangeOut]
    object: str = "consent"


class ConsentController(Controller):
    """Marketing consent of a customer."""

    path = "/v1/customers"
    tags = ["customers"]
    security = SECURITY

    @get(
        "/{customer_id:str}/consents",
        sync_to_thread=True,
        summary="A customer's marketing consent per channel, with its history",
    )
    def consents(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        customer_id: FromPath[str],
    ) -> list[ChannelConsentOut]:
        with db.reader() as session:
            customer = get_customer(session, caller.project_id, customer_id)
            found = consents_of(session, caller.project_id, customer)
        return [
            ChannelConsentOut(
                channel=c.channel,
                status=c.status,
                history=[ConsentChangeOut(h.status, utc(h.at), h.reason) for h in c.history],
            )
            for c in found
        ]

    @post("/{customer_id:str}/consents", sync_to_thread=True, status_code=200)
    def set_consent(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        customer_id: FromPath[str],
        data: Annotated[ConsentIn, Body()],
    ) -> ConsentOut:
        with db.session() as session:
            customer = get_customer(session, caller.project_id, customer_id)
            if data.status == "unsubscribed":
                unsubscribe_customer(
                    session, caller.project_id, customer.id, data.channel, reason="api"
                )
            else:
                resubscribe_customer(session, caller.project_id, customer.id, data.channel)
        return ConsentOut(customer_id=customer.id, channel=data.channel, status=data.status)
