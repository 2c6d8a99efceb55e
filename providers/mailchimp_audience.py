"""`mailchimp_audience` (sync): upsert an audience member and write merge fields."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from providers.config import DESTINATION_URL, SECRET
from providers.errors import PermanentProviderError, response_excerpt
from providers.http_transport import (
    GuardedClient,
    HttpClientOwner,
    HttpResponse,
    json_object,
    raise_for_status_class,
    request,
)
from providers.kind import ProviderKind
from providers.message import ProfileUpdate, SendResult

__all__ = ["KIND", "MailchimpAudienceConfig", "MailchimpAudienceSync", "subscriber_hash"]

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
            "first_name"}.
        status_if_new: status of a member created by the sync.
        base_url: override of https://<dc>.api.mailchimp.com (tests, proxies).
    """

    api_key: str = field(repr=False, metadata=SECRET)
    list_id: str
    merge_fields: Mapping[str, str]
    status_if_new: Literal["subscribed", "pending", "transactional", "unsubscribed"] = (
        "transactional"
    )
    base_url: str | None = field(default=None, metadata=DESTINATION_URL)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.base_url and not _DATACENTER.search(self.api_key):
            raise ValueError("api_key must end with its datacenter, e.g. -us6")
        if not self.list_id or not self.merge_fields:
            raise ValueError("list_id and merge_fields are required")

    @property
    def root(self) -> str:
        """The API root, from base_url or the key's datacenter."""
        if self.base_url:
            return self.base_url.rstrip("/")
        match = _DATACENTER.search(self.api_key)
        assert match is not None
        return f"https://{match.group(1)}.api.mailchimp.com"


class MailchimpAudienceSync:
    """PUT /3.0/lists/{list_id}/members/{subscriber_hash}: creates or updates the member."""

    kind = "mailchimp_audience"

    def __init__(
        self,
        name: str,
        config: MailchimpAudienceConfig,
        *,
        http_client: GuardedClient | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._client = HttpClientOwner(http_client, timeout=config.timeout)

    def _payload(self, update: ProfileUpdate) -> dict[str, Any]:
        """The member body: address, status for new members, merge fields that have values."""
        merge = {}
        for tag, source in self.config.merge_fields.items():
            value = update.value_of(source)
            if value is not None:
                merge[tag] = value
        return {
            "email_address": update.email,
            "status_if_new": self.config.status_if_new,
            "merge_fields": merge,
        }

    def _result(self, response: HttpResponse) -> SendResult:
        """200 with the member; errors by HTTP class (problem details bodies)."""
        body = json_object(response)
        raise_for_status_class(
            response,
            provider=self.name,
            secrets=(self.config.api_key,),
            code=str(body["title"]) if body.get("title") else None,
        )
        excerpt = response_excerpt(response.text, secrets=(self.config.api_key,))
        return SendResult("sent", provider_message_id=body.get("id"), raw=excerpt)

    async def sync(self, update: ProfileUpdate) -> SendResult:
        """Upsert the member with the configured merge fields."""
        if not update.email:
            raise PermanentProviderError("an email address is required", provider=self.name)
        url = (
            f"{self.config.root}/3.0/lists/{self.config.list_id}"
            f"/members/{subscriber_hash(update.email)}"
        )
        response = await request(
            self._client.http,
            "PUT",
            url,
            provider=self.name,
            json=self._payload(update),
            auth=("anystring", self.config.api_key),
        )
        return self._result(response)

    async def check(self) -> None:
        """GET /3.0/ping."""
        response = await request(
            self._client.http,
            "GET",
            f"{self.config.root}/3.0/ping",
            provider=self.name,
            auth=("anystring", self.config.api_key),
        )
        raise_for_status_class(response, provider=self.name, secrets=(self.config.api_key,))

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
    callbacks=None,
)
