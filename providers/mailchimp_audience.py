"""`mailchimp_audience` (sync): upsert an audience member and write merge fields.

Many members at once go through ``/3.0/batches`` (PUT operations, the same upsert as one
member), not the list batch ``POST /3.0/lists/{list_id}``: that one takes a ``status`` per
member and, with ``update_existing``, sets it on existing members too (an unsubscribed member
would be subscribed again); without it, existing members are not updated at all. The upsert's
``status_if_new`` never changes an existing member's status (docs/providers.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

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
    HttpResponse,
    json_object,
    raise_for_status_class,
    request,
)
from providers.identity import Identity, identity_field
from providers.kind import ProviderKind
from providers.mailchimp_batch_results import (
    BatchResultsError,
    OperationResult,
    read_batch_results,
)
from providers.message import ProfileRequest, ProfileUpdate, SendResult
from providers.platform_unsubscribes import check_webhook_secret, mailchimp_callbacks

__all__ = [
    "BATCH_SIZE",
    "CONTACT_MERGE_FIELDS",
    "DEFAULT_MERGE_FIELDS",
    "KIND",
    "MailchimpAudienceConfig",
    "MailchimpAudienceSync",
    "contact_merge_fields",
    "subscriber_hash",
]

#: The merge fields written when the config names none (tag -> profile value). Mailchimp
#: takes only merge fields the audience defines: create these tags (text fields) first.
DEFAULT_MERGE_FIELDS: Mapping[str, str] = {
    "RCODE": "code",
    "RLINK": "referral_link",
    "RQRURL": "qr_url",
    "RCAMPAIGN": "campaign",
    "RREWARD": "reward",
}

#: Operations per ``/3.0/batches`` call: the list batch's own limit, which keeps one batch's
#: results archive at a few MB.
BATCH_SIZE = 500

_DATACENTER = re.compile(r"-([a-z]+\d+)$")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased address."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class MailchimpAudienceConfig:
    """Config of `mailchimp_audience`.

    Attributes:
        api_key: secret Marketing API key; its suffix (`-us6`) names the datacenter.
        list_id: the audience id.
        merge_fields: merge tag -> ProfileUpdate field, e.g. {"RCODE": "code", "FNAME":
            "first_name"} (``DEFAULT_MERGE_FIELDS`` when left out).
        identity: the customer value holding the member's email address (Mailchimp knows
            members by it): ``email`` (default), ``source_id`` or ``metadata.<key>``.
        status_if_new: status of a member created by the sync.
        base_url: override of https://<dc>.api.mailchimp.com (tests, proxies).
        customer_sync: also write customers' own changes (FNAME, LNAME, an email opt-out as
            status ``unsubscribed``) and erasures (``delete-permanent``) onto the audience.
        customer_sync_delay: seconds such a write waits, so a burst of changes is one call.
        webhook_secret: secret, at least 16 characters, you choose: the callback URL with
            ``?secret=<it>`` receives the platform's unsubscribe webhooks (it signs none).
    """

    api_key: str = field(repr=False, metadata=SECRET)
    list_id: str
    merge_fields: Mapping[str, str] = mapping_field(default=DEFAULT_MERGE_FIELDS)
    identity: str = identity_field(default="email", fills="email")
    status_if_new: Literal["subscribed", "pending", "transactional", "unsubscribed"] = (
        "transactional"
    )
    base_url: str | None = field(default=None, metadata=DESTINATION_URL)
    timeout: float = 30.0
    customer_sync: CustomerSync = False
    customer_sync_delay: CustomerSyncDelay = 5.0
    webhook_secret: str | None = secret_field(default=None)

    def __post_init__(self) -> None:
        if not self.base_url and not _DATACENTER.search(self.api_key):
            raise ValueError("api_key must end with its datacenter, e.g. -us6")
        if not self.list_id or not self.merge_fields:
            raise ValueError("list_id and merge_fields are required")
        Identity(self.identity)
        check_webhook_secret(self.webhook_secret)

    @property
    def root(self) -> str:
        """The API root, from base_url or the key's datacenter."""
        if self.base_url:
            return self.base_url.rstrip("/")
        match = _DATACENTER.search(self.api_key)
        assert match is not None
        return f"https://{match.group(1)}.api.mailchimp.com"


#: The audience's default merge fields a customer sync fills (tag -> profile value).
CONTACT_MERGE_FIELDS: Mapping[str, str] = {"FNAME": "first_name", "LNAME": "last_name"}


def contact_merge_fields(update: ProfileUpdate) -> dict[str, str]:
    """A customer sync's names, in the merge fields every audience starts with."""
    merge: dict[str, str] = {}
    for tag, source in CONTACT_MERGE_FIELDS.items():
        value = update.value_of(source)
        if value is not None:
            merge[tag] = value
    return merge


class MailchimpAudienceSync:
    """PUT /3.0/lists/{list_id}/members/{subscriber_hash}: creates or updates the member;
    many members: the same PUTs as operations of ``/3.0/batches``."""

    kind = "mailchimp_audience"

    def __init__(
        self,
        name: str,
        config: MailchimpAudienceConfig,
        *,
        http_client: GuardedClient | None = None,
        poll_schedule: PollSchedule | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._client = HttpClientOwner(http_client, timeout=config.timeout)
        self._poll = poll_schedule or PollSchedule()

    def requests(self, update: ProfileUpdate) -> list[ProfileRequest]:
        """The member upsert: address, status for new members, merge fields that have values
        (or, for an erasure, the member's permanent deletion)."""
        member = f"/3.0/lists/{self.config.list_id}/members/{subscriber_hash(update.email or '')}"
        if update.erase:
            return [ProfileRequest("POST", member + "/actions/delete-permanent", {})]
        merge = contact_merge_fields(update) if update.contact else {}
        for tag, source in self.config.merge_fields.items():
            value = update.value_of(source)
            if value is not None:
                merge[tag] = value
        body: dict[str, Any] = {
            "email_address": update.email,
            "status_if_new": self.config.status_if_new,
            "merge_fields": merge,
        }
        if update.subscribed is False:
            # An opt-out here unsubscribes the member there; nothing here ever subscribes one.
            body["status"] = body["status_if_new"] = "unsubscribed"
        return [ProfileRequest("PUT", member, body)]

    def _checked(self, response: HttpResponse) -> dict[str, Any]:
        """The answer's JSON object; errors by HTTP class (problem details: the title as code)."""
        body = json_object(response)
        raise_for_status_class(
            response,
            provider=self.name,
            secrets=(self.config.api_key,),
            code=str(body["title"]) if body.get("title") else None,
        )
        return body

    def _result(self, response: HttpResponse) -> SendResult:
        """A member upsert's answer: 200 with the member."""
        body = self._checked(response)
        excerpt = response_excerpt(response.text, secrets=(self.config.api_key,))
        return SendResult("sent", provider_message_id=body.get("id"), raw=excerpt)

    async def sync(self, update: ProfileUpdate) -> SendResult:
        """Upsert the member with the configured merge fields."""
        if not update.email:
            raise PermanentProviderError("an email address is required", provider=self.name)
        [upsert] = self.requests(update)
        response = await request(
            self._client.http,
            upsert.method,
            self.config.root + upsert.path,
            provider=self.name,
            json=upsert.body,
            auth=("anystring", self.config.api_key),
        )
        if update.erase:
            return self._erased(response)
        return self._result(response)

    def _erased(self, response: HttpResponse) -> SendResult:
        """204 once deleted; 404 when there is no such member (nothing left to delete)."""
        if response.status_code == 404:
            return SendResult("sent", provider_status="not_found")
        raise_for_status_class(response, provider=self.name, secrets=(self.config.api_key,))
        return SendResult("sent", provider_status="deleted")

    async def sync_many(self, updates: Sequence[ProfileUpdate]) -> list[SendResult | ProviderError]:
        """Upsert the members through ``/3.0/batches``, 500 per batch; one outcome per update."""
        return await sync_in_batches(
            updates, size=BATCH_SIZE, write=self._write_batch, provider=self.name
        )

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One call to the API (``path`` under its root); the answer's JSON object."""
        response = await request(
            self._client.http,
            method,
            self.config.root + path,
            provider=self.name,
            json=body,
            auth=("anystring", self.config.api_key),
        )
        return self._checked(response)

    async def _write_batch(self, updates: list[ProfileUpdate]) -> list[SendResult | ProviderError]:
        """Create the batch, wait until it finished, read each operation's answer (a lone
        member: its PUT, one call where a batch takes three and a wait)."""
        if len(updates) == 1:
            return await one_by_one(self.sync, updates)
        operations = []
        for index, update in enumerate(updates):
            [upsert] = self.requests(update)
            operations.append(
                {
                    "method": upsert.method,
                    "path": upsert.path.removeprefix("/3.0"),  # operations name paths under it
                    "operation_id": str(index),
                    "body": json.dumps(upsert.body),
                }
            )
        created = await self._call("POST", "/3.0/batches", {"operations": operations})
        batch_id = created.get("id")
        if not isinstance(batch_id, str) or not batch_id:
            raise PermanentProviderError("/3.0/batches answered no batch id", provider=self.name)
        status_path = f"/3.0/batches/{quote(batch_id, safe='')}"

        async def finished() -> dict[str, Any] | None:
            status = await self._call("GET", status_path)
            return status if status.get("status") == "finished" else None

        status = await poll(finished, self._poll, provider=self.name, what="the batch")
        results = await self._results(status.get("response_body_url"))
        outcomes: list[SendResult | ProviderError] = []
        for index in range(len(updates)):
            result = results.get(str(index))
            if result is None:
                outcomes.append(
                    TransientProviderError(
                        "the batch results have no answer for this member", provider=self.name
                    )
                )
                continue
            answer = HttpResponse(result.status_code, {}, result.response.encode())
            try:
                outcomes.append(self._result(answer))
            except ProviderError as exc:
                outcomes.append(exc)
        return outcomes

    async def _results(self, url: object) -> dict[str, OperationResult]:
        """Download and read the results archive of a finished batch.

        The URL is a pre-signed link to Mailchimp's storage on another host: it gets no
        credentials, and goes through the guarded client like any destination. An archive that
        cannot be read fails the batch for now (transient): the upserts are idempotent, so
        writing them again is harmless.
        """
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise TransientProviderError(
                "the batch finished without a results URL", provider=self.name
            )
        response = await request(self._client.http, "GET", url, provider=self.name)
        raise_for_status_class(response, provider=self.name, secrets=(self.config.api_key,))
        try:
            return read_batch_results(response.content)
        except BatchResultsError as exc:
            raise TransientProviderError(
                f"the batch results are unreadable: {exc}", provider=self.name
            ) from None

    async def check(self) -> None:
        """GET /3.0/lists/{list_id}: the key works and the audience exists (a 404 names it)."""
        await self._call("GET", f"/3.0/lists/{self.config.list_id}")

    async def aclose(self) -> None:
        """Close the HTTP client if this sync created it."""
        await self._client.aclose()


KIND = ProviderKind(
    kind="mailchimp_audience",
    role="sync",
    channels=frozenset(),
    config_type=MailchimpAudienceConfig,
    description="Upserts the Mailchimp audience member and writes code/reward into merge fields.",
    factory=lambda name, config, ctx: MailchimpAudienceSync(
        name, config, http_client=ctx.http_client
    ),
    callbacks=mailchimp_callbacks,
)
