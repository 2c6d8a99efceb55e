"""Which providers of a project take customer sync writes, and how they know a customer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from distribution.accounts.project_cache import CACHE
from distribution.models import ProviderConfig
from providers import PROVIDER_KINDS, Identity

__all__ = ["SyncTarget", "sync_targets"]


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """An enabled sync provider with ``customer_sync`` on."""

    provider: str
    identity: Identity
    #: Seconds a customer's write waits before it is due (its later changes join it).
    delay: float


def sync_targets(session: Session, project_id: str) -> tuple[SyncTarget, ...]:
    """The project's customer sync targets, cached until one of its providers changes (every
    customer write asks, so an import of 100,000 rows asks once per batch, from memory)."""

    def load() -> tuple[SyncTarget, ...]:
        rows = session.exec(
            select(ProviderConfig.name, ProviderConfig.kind, ProviderConfig.settings).where(
                ProviderConfig.project_id == project_id,
                col(ProviderConfig.disabled_at).is_(None),
            )
        ).all()
        found = []
        for name, kind, settings in rows:
            spec = PROVIDER_KINDS.get(kind)
            if spec is None or spec.role != "sync":
                continue
            delay = spec.customer_sync_delay(settings)
            identity = spec.identity_of(settings)
            if delay is not None and identity is not None:
                found.append(SyncTarget(name, identity, delay))
        return tuple(sorted(found, key=lambda target: target.provider))

    return CACHE.get(project_id, ("customer-sync-targets", project_id), load)
