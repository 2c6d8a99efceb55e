"""The requests a profile write would make, shown in the previews (distribution and bulk).

A preview prepares the recipient's write as a send would (``ProfileUpdate`` in the row's
content); the provider's live sync then says which calls it would make for it
(``Sync.requests``: method, path under the API root and JSON body, never a header), so the
preview shows the exact body the platform would receive.
"""

from __future__ import annotations

from typing import Any

from distribution.errors import DistributionError
from distribution.outbox import PROFILE, profile_update
from distribution.provider_configs.registry import ProviderRegistry

__all__ = ["add_profile_requests", "check_profile_providers"]


async def add_profile_requests(
    registry: ProviderRegistry, project_id: str, items: list[dict[str, Any]]
) -> None:
    """Give every prepared profile item (``channel``, ``provider``, ``profile``) its
    ``requests``; a provider that cannot be built says why in ``requests_error``."""
    for item in items:
        if item.get("channel") != PROFILE or not isinstance(item.get("profile"), dict):
            continue
        try:
            sync = await registry.sync(project_id, str(item["provider"]))
        except DistributionError as error:
            item["requests_error"] = str(error)
            continue
        update = profile_update("preview", {"profile": item["profile"]})
        item["requests"] = [
            {"method": r.method, "path": r.path, "body": r.body} for r in sync.requests(update)
        ]


async def check_profile_providers(
    registry: ProviderRegistry, project_id: str, report: dict[str, Any]
) -> None:
    """Ask each profile channel's platform what can be known before sending (its credentials;
    a Mailchimp audience's existence): the channel's ``provider_check``, and a problem, making
    the report not ``ok``, when the check fails (every write would)."""
    for channel in report["channels"]:
        if channel.get("channel") != PROFILE:
            continue
        outcome = await registry.check(project_id, str(channel["provider"]))
        channel["provider_check"] = {"ok": outcome.ok, "detail": outcome.detail}
        if not outcome.ok:
            report["problems"].append(f"provider {channel['provider']!r}: {outcome.detail}")
            report["ok"] = False
