"""`braze_attributes` (sync): write code and reward as custom attributes via `/users/track`."""

from __future__ import annotations

from collections.abc import Mapping
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
from providers.errors import PermanentProviderError, response_excerpt
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
    "DEFAULT_ATTRIBUTES",
    "KIND",
    "STANDARD_ATTRIBUTES",
    "BrazeAttributesConfig",
    "BrazeAttributesSync",
    "contact_attributes",
    "erase_request",
    "unsubscribes_path",
]

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
    """One attributes object per update, identified by external_id."""

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

    def requests(self, update: ProfileUpdate) -> list[ProfileRequest]:
        """The one `/users/track` call: the user by external_id, the mapped attributes (or,
        for an erasure, the one `/users/delete` call)."""
        if update.erase:
            return [erase_request(update)]
        item: dict[str, Any] = {"external_id": update.external_id}
        if update.contact:
            item |= contact_attributes(update)
        for attribute, source in self.config.attributes.items():
            value = update.value_of(source)
            if value is not None:
                item[attribute] = value
        return [ProfileRequest("POST", "/users/track", {"attributes": [item]})]

    def _result(self, response: HttpResponse) -> SendResult:
        """Success means Braze queued the attributes; its `errors` name the objects it skipped."""
        body = json_object(response)
        raise_for_status_class(
            response,
            provider=self.name,
            secrets=(self.config.api_key,),
        )
        excerpt = response_excerpt(response.text, secrets=(self.config.api_key,))
        if body.get("message") != "success":
            raise PermanentProviderError("unexpected answer", provider=self.name, excerpt=excerpt)
        return accepted_result(body, excerpt, (self.config.api_key,))

    async def sync(self, update: ProfileUpdate) -> SendResult:
        """Write the configured attributes onto the user."""
        if not update.external_id:
            raise PermanentProviderError("external_id is required", provider=self.name)
        [track] = self.requests(update)
        response = await request(
            self._client.http,
            track.method,
            self.config.base_url.rstrip("/") + track.path,
            provider=self.name,
            json=track.body,
            headers={"Authorization": f"Bearer {self.config.api_key}"},
        )
        if update.erase:
            return self._erased(response)
        return self._result(response)

    def _erased(self, response: HttpResponse) -> SendResult:
        """`/users/delete` answers how many users it deleted; none is fine (already gone)."""
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
