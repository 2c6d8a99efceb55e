"""`braze_attributes` (sync): write code and reward as custom attributes via `/users/track`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from providers.braze import accepted_result
from providers.config import (
    DESTINATION_URL,
    SECRET,
    CustomerSync,
    CustomerSyncDelay,
    mapping_field,
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
from providers.message import ProfileRequest, ProfileUpdate, SendResult

__all__ = [
    "CHUNK_CONCURRENCY",
    "DEFAULT_ATTRIBUTES",
    "KIND",
    "MAX_ATTRIBUTE_OBJECTS",
    "STANDARD_ATTRIBUTES",
    "BrazeAttributesConfig",
    "BrazeAttributesSync",
    "contact_attributes",
    "erase_request",
    "unsubscribes_path",
]

#: Braze's limit: up to 75 attributes objects per `/users/track` request (api_limits, errors:
#: more is a fatal `400 Max Input Length Exceeded`).
MAX_ATTRIBUTE_OBJECTS = 75
#: Calls of one sync in flight at once (a 1,000-row batch is 14 calls).
CHUNK_CONCURRENCY = 4

#: The custom attributes written when the config names none (attribute -> profile value).
DEFAULT_ATTRIBUTES: Mapping[str, str] = {
    "referral_code": "code",
    "referral_link": "referral_link",
    "referral_qr_url": "qr_url",
    "referral_campaign": "campaign",
    "referral_reward": "reward",
}


@dataclass(frozen=True, slots=True)
class BrazeAttributesConfig:
    """Config of `braze_attributes`.

    Attributes:
        api_key: secret REST key with the `users.track` permission.
        base_url: the workspace's REST endpoint.
        attributes: Braze attribute -> ProfileUpdate field, e.g. {"referral_code": "code"}
            (``DEFAULT_ATTRIBUTES`` when left out).
        identity: the customer value Braze knows the user by, sent as ``external_id``:
            ``source_id`` (default), ``email`` or ``metadata.<key>``.
        customer_sync: also write customers' own changes (names, email, phone, email opt-out)
            and erasures (``/users/delete``) onto their Braze users.
        customer_sync_delay: seconds such a write waits, so a burst of changes is one call.
    """

    api_key: str = field(repr=False, metadata=SECRET)
    base_url: str = field(metadata=DESTINATION_URL)
    attributes: Mapping[str, str] = mapping_field(default=DEFAULT_ATTRIBUTES)
    identity: str = identity_field(default="source_id", fills="external_id")
    timeout: float = 30.0
    customer_sync: CustomerSync = False
    customer_sync_delay: CustomerSyncDelay = 5.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")
        if not self.attributes:
            raise ValueError("attributes must name at least one attribute")
        Identity(self.identity)


#: Braze's standard user attributes a customer sync fills (attribute -> profile value).
STANDARD_ATTRIBUTES: Mapping[str, str] = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
}


def contact_attributes(update: ProfileUpdate) -> dict[str, Any]:
    """A customer sync's standard attributes, and its email opt-out (never an opt-in)."""
    item: dict[str, Any] = {}
    for attribute, source in STANDARD_ATTRIBUTES.items():
        value = update.value_of(source)
        if value is not None:
            item[attribute] = value
    if update.subscribed is False:
        item["email_subscribe"] = "unsubscribed"
    return item


#: Braze's largest page of GET /email/unsubscribes, and how many pages one pull reads at most
#: (the rest waits for the next pull, which starts on the same day again).
UNSUBSCRIBES_PAGE = 500
UNSUBSCRIBES_PAGES = 200


def unsubscribes_path(start: date, end: date, offset: int) -> str:
    """GET /email/unsubscribes for whole days, one page."""
    query = {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "limit": UNSUBSCRIBES_PAGE,
        "offset": offset,
    }
    return f"/email/unsubscribes?{urlencode(query)}"


def erase_request(update: ProfileUpdate) -> ProfileRequest:
    """Delete the user and their data from Braze (an erasure)."""
    return ProfileRequest("POST", "/users/delete", {"external_ids": [update.external_id]})


class BrazeAttributesSync:
    """One attributes object per update, identified by external_id; many updates go 75 to a
    `/users/track` call (``sync_many``), a single one as a call of one."""

    kind = "braze_attributes"

    def __init__(
        self,
        name: str,
        config: BrazeAttributesConfig,
        *,
        http_client: GuardedClient | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._client = HttpClientOwner(http_client, timeout=config.timeout)
        self._url = config.base_url.rstrip("/") + "/users/track"
        # Bounds the calls of this sync in flight, however many batches are being written.
        self._calls = asyncio.Semaphore(CHUNK_CONCURRENCY)

    def _attributes(self, update: ProfileUpdate) -> dict[str, Any]:
        """The one attributes object of an update: the user by external_id, mapped values."""
        item: dict[str, Any] = {"external_id": update.external_id}
        if update.contact:
            item |= contact_attributes(update)
        for attribute, source in self.config.attributes.items():
            value = update.value_of(source)
            if value is not None:
                item[attribute] = value
        return item

    def requests(self, update: ProfileUpdate) -> list[ProfileRequest]:
        """The one `/users/track` call: the user by external_id, the mapped attributes (or,
        for an erasure, the one `/users/delete` call)."""
        if update.erase:
            return [erase_request(update)]
        return [ProfileRequest("POST", "/users/track", {"attributes": [self._attributes(update)]})]

    def _answers(self, response: HttpResponse, count: int) -> list[SendResult | ProviderError]:
        """One outcome per object of a call from Braze's answer.

        Braze names a bad object by its index in `errors` (`input_array: attributes`): in a
        2xx it skipped that object and wrote the others; in a fatal 400 it wrote nothing, so
        the named objects are refused and the others are retried without them. Errors naming
        no object stay with every object of a 2xx (the row is sent, its errors kept).
        """
        secrets = (self.config.api_key,)
        body = json_object(response)
        excerpt = response_excerpt(response.text, secrets=secrets)
        named, general = _object_errors(body.get("errors"), count)
        if response.status_code == 400 and named:
            retry = TransientProviderError(
                "not written: Braze refused the call for another object in it",
                provider=self.name,
                status_code=400,
                excerpt=excerpt,
            )
            return [
                _refused(named[i], excerpt, secrets) if i in named else retry for i in range(count)
            ]
        raise_for_status_class(response, provider=self.name, secrets=secrets)
        if body.get("message") != "success":
            raise PermanentProviderError("unexpected answer", provider=self.name, excerpt=excerpt)
        accepted = accepted_result({**body, "errors": general}, excerpt, secrets)
        return [
            _refused(named[i], excerpt, secrets) if i in named else accepted for i in range(count)
        ]

    async def _track(self, updates: Sequence[ProfileUpdate]) -> list[SendResult | ProviderError]:
        """One `/users/track` call of up to 75 updates; a failed call fails each of them."""
        try:
            async with self._calls:
                response = await request(
                    self._client.http,
                    "POST",
                    self._url,
                    provider=self.name,
                    json={"attributes": [self._attributes(u) for u in updates]},
                    headers={"Authorization": f"Bearer {self.config.api_key}"},
                )
            return self._answers(response, len(updates))
        except ProviderError as error:
            return [error] * len(updates)

    async def sync_many(self, updates: Sequence[ProfileUpdate]) -> list[SendResult | ProviderError]:
        """Write the updates 75 objects to a call, calls in parallel; one outcome per update.

        An update without an external id fails alone, before any call.
        """
        outcomes: list[SendResult | ProviderError | None] = [None] * len(updates)
        sendable: list[int] = []
        for index, update in enumerate(updates):
            if update.external_id:
                sendable.append(index)
            else:
                outcomes[index] = PermanentProviderError(
                    "external_id is required", provider=self.name
                )
        chunks = [
            sendable[start : start + MAX_ATTRIBUTE_OBJECTS]
            for start in range(0, len(sendable), MAX_ATTRIBUTE_OBJECTS)
        ]
        answers = await asyncio.gather(*(self._track([updates[i] for i in c]) for c in chunks))
        for chunk, answer in zip(chunks, answers, strict=True):
            for index, outcome in zip(chunk, answer, strict=True):
                outcomes[index] = outcome
        return [o for o in outcomes if o is not None]

    async def sync(self, update: ProfileUpdate) -> SendResult:
        """Write the configured attributes onto the user (a call of one object), or erase them."""
        if update.erase:
            return await self._erase(update)
        [outcome] = await self.sync_many([update])
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    async def _erase(self, update: ProfileUpdate) -> SendResult:
        """`/users/delete` answers how many users it deleted; none is fine (already gone)."""
        if not update.external_id:
            raise PermanentProviderError("external_id is required", provider=self.name)
        delete = erase_request(update)
        response = await request(
            self._client.http,
            delete.method,
            self.config.base_url.rstrip("/") + delete.path,
            provider=self.name,
            json=delete.body,
            headers={"Authorization": f"Bearer {self.config.api_key}"},
        )
        raise_for_status_class(response, provider=self.name, secrets=(self.config.api_key,))
        excerpt = response_excerpt(response.text, secrets=(self.config.api_key,))
        return SendResult("sent", provider_status="deleted", raw=excerpt)

    async def email_unsubscribes(self, start: date, end: date) -> list[str]:
        """The addresses that unsubscribed from email in Braze from ``start`` to ``end`` (the
        key needs the ``email.unsubscribe`` permission)."""
        found: list[str] = []
        for page in range(UNSUBSCRIBES_PAGES):
            response = await request(
                self._client.http,
                "GET",
                self.config.base_url.rstrip("/")
                + unsubscribes_path(start, end, page * UNSUBSCRIBES_PAGE),
                provider=self.name,
                headers={"Authorization": f"Bearer {self.config.api_key}"},
            )
            raise_for_status_class(response, provider=self.name, secrets=(self.config.api_key,))
            emails = json_object(response).get("emails")
            listed = emails if isinstance(emails, list) else []
            found += [e["email"] for e in listed if isinstance(e, dict) and e.get("email")]
            if len(listed) < UNSUBSCRIBES_PAGE:
                break
        return found

    async def check(self) -> None:
        """Braze offers no credential check for a track-only key; nothing is verified."""

    async def aclose(self) -> None:
        """Close the HTTP client if this sync created it."""
        await self._client.aclose()


def _object_errors(raw: Any, count: int) -> tuple[dict[int, Any], list[Any]]:
    """Braze's `errors`: those naming an attributes object by index (the first per object),
    and the others."""
    items = raw if isinstance(raw, list) else [raw] if raw else []
    named: dict[int, Any] = {}
    general: list[Any] = []
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        if (
            isinstance(index, int)
            and not isinstance(index, bool)
            and 0 <= index < count
            and item.get("input_array", "attributes") == "attributes"
        ):
            named.setdefault(index, item)
        else:
            general.append(item)
    return named, general


def _refused(error: Any, excerpt: str, secrets: Sequence[str]) -> SendResult:
    """The outcome of an object Braze refused: rejected, with Braze's reason."""
    reason = error.get("type") if isinstance(error, dict) else None
    text = reason if isinstance(reason, str) and reason else json.dumps(error, sort_keys=True)
    return SendResult(
        "rejected",
        reason=f"braze refused the attributes: {response_excerpt(text, secrets=secrets)}",
        raw=excerpt,
        reject_reason="invalid",
    )


KIND = ProviderKind(
    kind="braze_attributes",
    role="sync",
    channels=frozenset(),
    config_type=BrazeAttributesConfig,
    description="Writes code/reward as Braze custom attributes through /users/track.",
    factory=lambda name, config, ctx: BrazeAttributesSync(
        name, config, http_client=ctx.http_client
    ),
    callbacks=None,
)
