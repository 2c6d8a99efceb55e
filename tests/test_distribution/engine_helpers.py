"""Shared wiring for delivery-engine tests: link settings, retry policy, a sender source.

Rows (templates, distributions, bulk audiences) come from `tests.builders`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from distribution.errors import NotFoundError
from distribution.outbox import LinkSettings
from distribution.outbox.delivery import DeliveryPolicy
from distribution.outbox.worker import EmbeddedWorker
from providers import ProfileRequest, ProfileUpdate, Provider, SendResult, Sync
from providers.capture import CaptureConfig, CaptureProvider

LINKS = LinkSettings(public_url="https://dm.example.com", secret_key="engine-test-secret")
FAST_RETRIES = DeliveryPolicy(max_attempts=8, base_backoff=0.0, max_backoff=0.0)


@dataclass
class Senders:
    """A SenderSource over real provider objects, keyed by provider name."""

    providers: dict[str, Provider] = field(default_factory=dict)
    syncs: dict[str, Sync] = field(default_factory=dict)

    async def sender(self, project_id: str, name: str) -> Provider:
        if name not in self.providers:
            raise NotFoundError("provider", name)
        return self.providers[name]

    async def sync(self, project_id: str, name: str) -> Sync:
        if name not in self.syncs:
            raise NotFoundError("provider", name)
        return self.syncs[name]


def capture() -> CaptureProvider:
    return CaptureProvider("capture", CaptureConfig())


async def drain(worker: EmbeddedWorker, rounds: int = 200) -> None:
    """Run rounds until nothing is due."""
    for _ in range(rounds):
        if await worker.run_once() == 0:
            return
    raise AssertionError("deliveries were still due after many rounds")


class OneAtATime:
    """A sync without ``sync_many``: the engine writes its rows one call each (the per-row
    path, as a platform without batches takes)."""

    def __init__(self, inner: Sync) -> None:
        self.inner = inner
        self.name = inner.name
        self.kind = inner.kind

    async def sync(self, update: ProfileUpdate) -> SendResult:
        return await self.inner.sync(update)

    def requests(self, update: ProfileUpdate) -> list[ProfileRequest]:
        return self.inner.requests(update)

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
