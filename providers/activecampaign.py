"""`activecampaign` (sync): sync the contact, then write custom field values.

Many contacts at once go through the bulk contact import (``POST /api/3/import/bulk_import``,
250 contacts per request), then ``GET /api/3/import/info`` until it completed; its ``failure``
list names the addresses that were not imported. ActiveCampaign asks for the contacts API
below 10 contacts: a batch that small goes through ``sync`` per contact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from providers.batching import PollSchedule, one_by_one, poll, sync_in_batches
from providers.config import (
    DESTINATION_URL,
    SECRET,
    CustomerSync,
    CustomerSyncDelay,
    mapping_field,
    secret_field,
)
from providers.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    response_excerpt,
)
from providers.http_transport import (
    GuardedClient,
    HttpClientOwner,
    json_object,
    raise_for_status_class,
    request,
)
from providers.identity import Identity, identity_field
from providers.kind import ProviderKind
from providers.message import ProfileRequest, ProfileUpdate, SendResult
from providers.platform_unsubscribes import activecampaign_callbacks, check_webhook_secret

__all__ = [
    "BULK_IMPORT_SIZE",
    "CONTACT_ID",
    "KIND",
    "SMALL_BATCH",
    "UNSUBSCRIBED",
    "ActiveCampaignConfig",
    "ActiveCampaignSync",
]

#: Where a preview shows the contact id, known only once contact/sync has answered.
CONTACT_ID = "{contact.id from contact/sync}"
#: Where a preview of an erasure shows the contact id the lookup by email finds.
FOUND_CONTACT_ID = "{contacts[].id from the lookup by email}"
#: A contact's status on a list: 1 active, 2 unsubscribed.
UNSUBSCRIBED = "2"
#: Contacts per bulk import request (ActiveCampaign's limit).
BULK_IMPORT_SIZE = 250
#: A batch of at most this many contacts goes through the contacts API: the importer is rate
#: limited for small imports and ActiveCampaign asks for the contacts API for 10 or fewer.
SMALL_BATCH = 10
#: A bulk import request body may be this large (bytes) at most.
MAX_IMPORT_BYTES = 400_000
# The import's states after which nothing will change; "failed" and "interrupted" imported
# nothing to rely on (the rows are retried; a contact import is an upsert by address).
_IMPORT_DONE = "completed"
_IMPORT_FAILED = frozenset({"failed", "interrupted"})


@dataclass(frozen=True, slots=True)
class ActiveCampaignConfig:
    """Config of `activecampaign`.

    Attributes:
        api_token: secret, sent in the `Api-Token` header.
        base_url: the account's API URL, e.g. https://ACCOUNT.api-us1.com.
        fields: custom field id -> ProfileUpdate field, e.g. {"12": "code"} (no default: the
            API takes the account's numeric field ids, which only the account knows).
        identity: the customer value holding the contact's email address (ActiveCampaign
            knows contacts by it): ``email`` (default), ``source_id`` or ``metadata.<key>``.
        list_id: the list an email opt-out unsubscribes the contact from (customer sync);
            without it an opt-out is not written (ActiveCampaign's status is per list).
        customer_sync: also write customers' own changes (names, email, phone, the opt-out
            on ``list_id``) and erasures (the contact's deletion) onto their contacts.
        customer_sync_delay: seconds such a write waits, so a burst of changes is one call.
        webhook_secret: secret, at least 16 characters, you choose: the callback URL with
            ``?secret=<it>`` receives the platform's unsubscribe webhooks (it signs none).
    """

    api_token: str = field(repr=False, metadata=SECRET)
    base_url: str = field(metadata=DESTINATION_URL)
    fields: Mapping[str, str] = mapping_field()
    identity: str = identity_field(default="email", fills="email")
    timeout: float = 30.0
    list_id: str | None = None
    customer_sync: CustomerSync = False
    customer_sync_delay: CustomerSyncDelay = 5.0
    webhook_secret: str | None = secret_field(default=None)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")
        if self.list_id is not None and not self.list_id.isdigit():
            raise ValueError("list_id must be the list's id (a number)")
        if not self.fields or not all(k.isdigit() for k in self.fields):
            raise ValueError("fields must map custom field ids (numbers) to profile fields")
        Identity(self.identity)
        check_webhook_secret(self.webhook_secret)


class ActiveCampaignSync:
    """POST /api/3/contact/sync, then POST /api/3/fieldValues per configured field."""

    kind = "activecampaign"

    def __init__(
        self,
        name: str,
        config: ActiveCampaignConfig,
        *,
        http_client: GuardedClient | None = None,
        poll_schedule: PollSchedule | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._client = HttpClientOwner(http_client, timeout=config.timeout)
        self._poll = poll_schedule or PollSchedule()
        self._root = config.base_url.rstrip("/") + "/api/3"

    def _contact_payload(self, update: ProfileUpdate) -> dict[str, Any]:
        """The contact/sync body (only the values we have)."""
        contact: dict[str, Any] = {"email": update.email}
        for key, value in (
            ("firstName", update.first_name),
            ("lastName", update.last_name),
            ("phone", update.phone),
        ):
            if value is not None:
                contact[key] = value
        return {"contact": contact}

    def _field_values(self, update: ProfileUpdate) -> list[tuple[str, str]]:
        """(custom field id, value) of each configured field that has a value."""
        values = []
        for field_id, source in self.config.fields.items():
            value = update.value_of(source)
            if value is not None:
                values.append((field_id, value))
        return values

    def _field_payloads(self, update: ProfileUpdate, contact_id: str) -> list[dict[str, Any]]:
        """One fieldValues body per configured field that has a value."""
        return [
            {"fieldValue": {"contact": contact_id, "field": field_id, "value": value}}
            for field_id, value in self._field_values(update)
        ]

    def _import_contact(self, update: ProfileUpdate) -> dict[str, Any]:
        """One contact of a bulk import: the contact/sync values, the fields by numeric id."""
        names = {"firstName": "first_name", "lastName": "last_name", "phone": "phone"}
        contact = {names.get(k, k): v for k, v in self._contact_payload(update)["contact"].items()}
        contact["fields"] = [{"id": int(i), "value": v} for i, v in self._field_values(update)]
        return contact

    def _opt_out_payload(self, update: ProfileUpdate, contact_id: str) -> dict[str, Any] | None:
        """The contactLists body that unsubscribes the contact from ``list_id``, if due."""
        if update.subscribed is not False or self.config.list_id is None:
            return None
        status = {"list": self.config.list_id, "contact": contact_id, "status": UNSUBSCRIBED}
        return {"contactList": status}

    def requests(self, update: ProfileUpdate) -> list[ProfileRequest]:
        """contact/sync, then one fieldValues call per mapped value (the contact id shown as
        ``CONTACT_ID``: ``sync`` fills in the one contact/sync answers), then an opt-out's
        contactLists call; for an erasure, the lookup by email and the deletion."""
        if update.erase:
            return [
                ProfileRequest("GET", "/api/3/contacts", {"email": update.email}),
                ProfileRequest("DELETE", f"/api/3/contacts/{FOUND_CONTACT_ID}", {}),
            ]
        calls = [ProfileRequest("POST", "/api/3/contact/sync", self._contact_payload(update))]
        calls += [
            ProfileRequest("POST", "/api/3/fieldValues", body)
            for body in self._field_payloads(update, CONTACT_ID)
        ]
        opt_out = self._opt_out_payload(update, CONTACT_ID)
        if opt_out is not None:
            calls.append(ProfileRequest("POST", "/api/3/contactLists", opt_out))
        return calls

    async def _call(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """POST ``body`` (GET when None) to the API path; errors by HTTP class."""
        response = await request(
            self._client.http,
            "POST" if body is not None else "GET",
            self._root + path,
            provider=self.name,
            json=body,
            headers={"Api-Token": self.config.api_token},
        )
        raise_for_status_class(response, provider=self.name, secrets=(self.config.api_token,))
        return json_object(response)

    async def _erase(self, email: str) -> SendResult:
        """Delete every contact with the address (none: nothing left to delete)."""
        contacts = (await self._call(f"/contacts?{urlencode({'email': email})}", None)).get(
            "contacts"
        )
        found = [c["id"] for c in contacts or [] if isinstance(c, dict) and c.get("id")]
        for contact_id in found:
            deleted = await request(
                self._client.http,
                "DELETE",
                f"{self._root}/contacts/{contact_id}",
                provider=self.name,
                headers={"Api-Token": self.config.api_token},
            )
            if deleted.status_code != 404:  # deleted meanwhile: the same outcome
                raise_for_status_class(
                    deleted, provider=self.name, secrets=(self.config.api_token,)
                )
        return SendResult("sent", provider_status="deleted" if found else "not_found")

    async def sync(self, update: ProfileUpdate) -> SendResult:
        """Create or update the contact by email, then write each field value (and an
        opt-out); an erasure deletes the contact instead."""
        if not update.email:
            raise PermanentProviderError("an email address is required", provider=self.name)
        if update.erase:
            return await self._erase(update.email)
        answer = await self._call("/contact/sync", self._contact_payload(update))
        contact = answer.get("contact")
        contact_id = contact.get("id") if isinstance(contact, dict) else None
        if not contact_id:
            raise PermanentProviderError(
                "contact/sync returned no contact id",
                provider=self.name,
                excerpt=response_excerpt(str(answer), secrets=(self.config.api_token,)),
            )
        for body in self._field_payloads(update, str(contact_id)):
            await self._call("/fieldValues", body)
        opt_out = self._opt_out_payload(update, str(contact_id))
        if opt_out is not None:
            await self._call("/contactLists", opt_out)
        return SendResult("sent", provider_message_id=str(contact_id))

    async def sync_many(self, updates: Sequence[ProfileUpdate]) -> list[SendResult | ProviderError]:
        """Import the contacts in bulk, 250 per import; one outcome per update."""
        return await sync_in_batches(
            updates, size=BULK_IMPORT_SIZE, write=self._write_batch, provider=self.name
        )

    async def _write_batch(self, updates: list[ProfileUpdate]) -> list[SendResult | ProviderError]:
        """A small batch per contact; a large one as imports whose body fits the size limit."""
        if len(updates) <= SMALL_BATCH:
            return await one_by_one(self.sync, updates)
        contacts = [self._import_contact(update) for update in updates]
        if len(json.dumps({"contacts": contacts})) > MAX_IMPORT_BYTES:
            half = len(updates) // 2
            return await self._write_batch(updates[:half]) + await self._write_batch(updates[half:])
        return await self._bulk_import(updates, contacts)

    async def _bulk_import(
        self, updates: list[ProfileUpdate], contacts: list[dict[str, Any]]
    ) -> list[SendResult | ProviderError]:
        """One import, waited for; the addresses in its ``failure`` list get an error."""
        answer = await self._call("/import/bulk_import", {"contacts": contacts})
        batch_id = answer.get("batchId")
        if not isinstance(batch_id, str) or not batch_id:
            raise PermanentProviderError(
                "import/bulk_import answered no batchId",
                provider=self.name,
                excerpt=response_excerpt(str(answer), secrets=(self.config.api_token,)),
            )
        info_path = "/import/info?" + urlencode({"batchId": batch_id})

        async def done() -> dict[str, Any] | None:
            info = await self._call(info_path, None)
            status = info.get("status")  # false while the import has no status yet
            if isinstance(status, str) and status in _IMPORT_FAILED:
                raise TransientProviderError(f"the bulk import {status}", provider=self.name)
            return info if status == _IMPORT_DONE else None

        info = await poll(done, self._poll, provider=self.name, what="the bulk import")
        failure = info.get("failure")
        failed = (
            {e.lower() for e in failure if isinstance(e, str)}
            if isinstance(failure, list)
            else set()
        )
        raw = response_excerpt(
            f"bulk import {batch_id} completed", secrets=(self.config.api_token,)
        )
        return [
            PermanentProviderError(
                "the bulk import did not import this contact", provider=self.name
            )
            if (update.email or "").lower() in failed
            else SendResult("sent", raw=raw, provider_status="completed")
            for update in updates
        ]

    async def check(self) -> None:
        """GET /api/3/users/me."""
        await self._call("/users/me", None)

    async def aclose(self) -> None:
        """Close the HTTP client if this sync created it."""
        await self._client.aclose()


KIND = ProviderKind(
    kind="activecampaign",
    role="sync",
    channels=frozenset(),
    config_type=ActiveCampaignConfig,
    description="Syncs the ActiveCampaign contact and writes custom field values.",
    factory=lambda name, config, ctx: ActiveCampaignSync(name, config, http_client=ctx.http_client),
    callbacks=activecampaign_callbacks,
)
