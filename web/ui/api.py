"""The editor's JSON endpoints, behind the session (the browser has no API token).

They call the same services as the ``/v1`` API and the same previews (in the render pool);
every POST needs the ``X-CSRF-Token`` header (checked by the router's before-request hook).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from distribution.customers.customer_input import normalize_phone
from distribution.customers.store import list_customers
from distribution.errors import FieldError, InvalidInputError
from distribution.models import Project
from distribution.outbox import LinkSettings
from distribution.outbox.sent_tests import EditorTestSend, new_test_message_id, record_test_send
from distribution.provider_configs.registry import ProviderRegistry
from distribution.provider_configs.store import BUILT_IN_CAPTURE, list_providers
from distribution.storage.db import Database
from distribution.template_store import (
    NoLiveVersionError,
    VersionInput,
    check_resolve_input,
    get_template,
    preview_context,
    resolve_template,
)
from distribution.template_store.store import validate_source
from providers import PROVIDER_KINDS, Message, ProviderError
from web.template_preview import preview_out
from web.templates_schemas import PreviewOut
from web.ui.session import EDITORS_ONLY, UiUser

__all__ = ["PreviewIn", "UiApiController"]


class PreviewIn(msgspec.Struct):
    """An unsaved source and the sample data to render it with."""

    channel: str
    body: str
    subject: str | None = None
    body_format: str = "mjml"
    text_body: str | None = None
    gsm_safe: bool = False
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    # The template being edited: its category decides which Publish rules `problems` checks.
    template_id: str | None = None
    category: str | None = None


class TestSendIn(PreviewIn):
    """Send the editor's source, rendered with the sample data, to one address or number."""

    to: str = ""
    provider: str = BUILT_IN_CAPTURE


class ResolveIn(msgspec.Struct):
    """Who a message would go to: which variant would they get?"""

    campaign_id: str | None = None
    segment_id: str | None = None
    locale: str | None = None


def render_preview(data: PreviewIn, db: Database, user: UiUser) -> PreviewOut:
    """Render an unsaved source like ``POST /v1/templates/preview``, with the editor's sample.

    The Publish rules checked are those of the template's category (``template_id``), else of
    ``category``, else of a transactional template.
    """
    if data.channel not in ("email", "sms"):
        raise InvalidInputError([FieldError("channel", 'must be "email" or "sms"')])
    if data.category not in (None, "transactional", "marketing"):
        raise InvalidInputError([FieldError("category", 'must be "transactional" or "marketing"')])
    category = data.category or "transactional"
    if data.template_id:
        with db.reader() as tx:
            category = get_template(tx, user.project_id, data.template_id).category
    source = validate_source(
        data.channel,
        VersionInput(
            body=data.body,
            subject=None if data.channel == "sms" else data.subject or "",
            body_format=data.body_format if data.channel == "email" else None,
            text_body=data.text_body or None if data.channel == "email" else None,
            gsm_safe=data.gsm_safe and data.channel == "sms",
        ),
    )
    return preview_out(source, data.context, category=category)


class UiApiController(Controller):
    """JSON for the editor's scripts. Viewers may read and preview; editors change things."""

    path = "/ui/api"

    @post("/preview", sync_to_thread=True, status_code=200)
    def preview(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        data: JSONBody[PreviewIn],
    ) -> PreviewOut:
        """Render an unsaved source with sample data; template errors are a 200 with `errors`."""
        return render_preview(data, db, user)

    @get("/customers", sync_to_thread=True)
    def customers(
        self, user: NamedDependency[UiUser], db: NamedDependency[Database], q: FromQuery[str] = ""
    ) -> list[dict[str, Any]]:
        """Customers matching a search, for the sample-data picker."""
        with db.reader() as tx:
            found = list_customers(tx, user.project_id, limit=20, query=q or None)
        return [
            {
                "id": c.id,
                "name": c.name,
                "email": c.email,
                "phone": c.phone,
                "source_id": c.source_id,
            }
            for c in found.customers
        ]

    @get("/customers/{customer_id:str}/context", sync_to_thread=True)
    def customer_context(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        links: NamedDependency[LinkSettings],
        customer_id: FromPath[str],
    ) -> dict[str, Any]:
        """Sample data for one real customer: their `customer`, the project, sample for the rest."""
        with db.reader() as tx:
            return preview_context(
                tx, user.project_id, customer_id=customer_id, qr_url=links.qr_url
            )

    @post("/templates/{template_id:str}/resolve", sync_to_thread=True, status_code=200)
    def resolve(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        template_id: FromPath[str],
        data: JSONBody[ResolveIn],
    ) -> dict[str, Any]:
        """Which live variant a recipient with this campaign, segment and locale would get."""
        with db.reader() as tx:
            asked = check_resolve_input(
                tx,
                user.project_id,
                template_id,
                campaign_id=data.campaign_id,
                segment_ids=[data.segment_id] if data.segment_id else [],
                locale=data.locale,
            )
            try:
                variant, version = resolve_template(
                    tx,
                    user.project_id,
                    template_id,
                    campaign_id=asked.campaign_id,
                    segment_ids=asked.segment_ids,
                    locale=asked.locale,
                )
            except NoLiveVersionError as error:
                return {"variant_id": None, "message": str(error)}
        return {"variant_id": variant.id, "version_number": version.number, "message": None}

    @get("/providers", sync_to_thread=True)
    def providers(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        channel: FromQuery[str] = "",
    ) -> list[dict[str, Any]]:
        """Senders a test can go through: the built-in capture, then the project's own."""
        found = [{"name": BUILT_IN_CAPTURE, "kind": "built in, keeps the message"}]
        with db.reader() as tx:
            for row in list_providers(tx, user.project_id):
                kind = PROVIDER_KINDS.get(row.kind)
                if kind is None or kind.role != "sender" or row.disabled_at is not None:
                    continue
                if channel and channel not in kind.channels:
                    continue
                found.append({"name": row.name, "kind": row.kind})
        return found

    @post("/test-send", status_code=200, guards=[EDITORS_ONLY])
    async def test_send(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        providers: NamedDependency[ProviderRegistry],
        data: JSONBody[TestSendIn],
    ) -> dict[str, Any]:
        """Render the unsaved source with the sample data, exactly as previewed, and send it;
        the send is recorded as a message marked ``test`` (GET /v1/messages?test=true)."""
        to = await asyncio.to_thread(self._recipient, db, user, data.channel, data.to)
        shown = await asyncio.to_thread(render_preview, data, db, user)
        if shown.errors:
            raise InvalidInputError([FieldError(e.part or "body", e.message) for e in shown.errors])
        message_id = new_test_message_id()
        try:
            if shown.sms is None:
                message = Message(
                    id=message_id,
                    channel="email",
                    to=to,
                    subject=shown.subject,
                    html=shown.html,
                    text=shown.text or None,
                    tags=("test",),
                )
            else:
                message = Message(id=message_id, channel="sms", to=to, body=shown.sms.body)
        except ValueError as error:
            raise InvalidInputError([FieldError("body", str(error))]) from None
        if data.template_id:
            await asyncio.to_thread(self._own_template, db, user, data.template_id)
        sender = await providers.sender(user.project_id, data.provider)
        content = (
            {"subject": message.subject, "html": message.html, "text": message.text}
            if shown.sms is None
            else {"body": message.body}
        )
        send = partial(
            EditorTestSend,
            message_id=message_id,
            channel=data.channel,
            provider=data.provider,
            recipient=to,
            content=content,
            template_id=data.template_id or None,
            actor=user.email,
        )
        try:
            result = await sender.send(message)
        except ProviderError as error:
            await asyncio.to_thread(self._record, db, user, send(sent=False, error=str(error)))
            return {
                "provider": data.provider,
                "status": "failed",
                "reason": str(error),
                "message_id": message_id,
            }
        await asyncio.to_thread(
            self._record,
            db,
            user,
            send(
                sent=result.status != "rejected",
                provider_message_id=result.provider_message_id,
                provider_status=result.provider_status,
                error=result.reason if result.status == "rejected" else None,
            ),
        )
        return {
            "provider": data.provider,
            "status": result.status,
            "provider_message_id": result.provider_message_id,
            "provider_status": result.provider_status,
            "reason": result.reason,
            "message_id": message_id,
        }

    @staticmethod
    def _recipient(db: Database, user: UiUser, channel: str, to: str) -> str:
        """The address or number, by the customers API's rules (a phone number in any form it
        accepts, read in the project's default region; sent in E.164)."""
        to = to.strip()
        try:
            if channel == "sms":
                with db.reader() as tx:
                    project = tx.get(Project, user.project_id)
                    region = project.default_region if project is not None else "US"
                return normalize_phone(to, region)
            if to.count("@") != 1 or len(to) > 320 or " " in to:
                raise ValueError("is not an email address")
        except ValueError as error:
            raise InvalidInputError([FieldError("to", str(error))]) from None
        return to

    @staticmethod
    def _own_template(db: Database, user: UiUser, template_id: str) -> None:
        # A test names only its project's own template (another's is a 404, sent nowhere).
        with db.reader() as tx:
            get_template(tx, user.project_id, template_id)

    @staticmethod
    def _record(db: Database, user: UiUser, send: EditorTestSend) -> None:
        with db.session() as tx:
            record_test_send(tx, user.project_id, send)
