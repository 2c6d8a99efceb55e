"""The periodic pull of unsubscribes from platforms that list them instead of calling us (Braze
``GET /email/unsubscribes``): each address is suppressed for email here.

Pulled for every enabled sync provider with ``customer_sync`` on whose kind can list them
(``UnsubscribeFeed``). A cursor per provider (``UnsubscribePullCursor``) keeps the first day
the next pull asks for: the API filters by whole days, so the last day is read again, and the
first pull starts on the day the provider was configured.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date

from sqlmodel import col, select

from distribution.customers.platform_opt_outs import suppress_reported_opt_outs
from distribution.errors import DistributionError
from distribution.models import ProviderConfig, UnsubscribePullCursor, utcnow
from distribution.provider_configs.registry import ProviderRegistry
from distribution.storage.db import Database
from distribution.storage.polling_loop import PollingLoop
from providers import PROVIDER_KINDS, ProviderError
from providers.platform_unsubscribes import UnsubscribeFeed

__all__ = ["UnsubscribePull"]

log = logging.getLogger("distribution.unsubscribe_pull")


@dataclass(frozen=True, slots=True)
class _Pulled:
    config_id: str
    project_id: str
    name: str
    start: date


class UnsubscribePull(PollingLoop):
    """Every ``poll_interval`` seconds, pull each feed's unsubscribes since its cursor."""

    name = "unsubscribe-pull"

    def __init__(
        self, database: Database, registry: ProviderRegistry, *, poll_interval: float = 900.0
    ) -> None:
        super().__init__(poll_interval=poll_interval, shutdown_grace=10.0)
        self.database = database
        self.registry = registry

    async def run_once(self) -> int:
        for target in await asyncio.to_thread(self._targets):
            if self._stopping:
                break
            await self._pull(target)
        # Never "more work at once": the next pull is one interval (or a wake()) away.
        return 0

    def _targets(self) -> list[_Pulled]:
        with self.database.reader() as session:
            rows = session.exec(
                select(ProviderConfig, UnsubscribePullCursor.start_date)
                .outerjoin(
                    UnsubscribePullCursor,
                    col(UnsubscribePullCursor.provider_config_id) == ProviderConfig.id,
                )
                .where(col(ProviderConfig.disabled_at).is_(None))
                .order_by(col(ProviderConfig.id))
            ).all()
            found = []
            for row, start in rows:
                spec = PROVIDER_KINDS.get(row.kind)
                if spec is None or spec.role != "sync":
                    continue
                if spec.customer_sync_delay(row.settings) is None:
                    continue
                first = date.fromisoformat(start) if start else row.created_at.date()
                found.append(_Pulled(row.id, row.project_id, row.name, first))
            return found

    async def _pull(self, target: _Pulled) -> None:
        try:
            live = await self.registry.sync(target.project_id, target.name)
        except DistributionError:
            return  # deleted or disabled meanwhile
        # The registry's object keeps the provider's limits around the platform's own sync.
        feed = getattr(live, "inner", live)
        if not isinstance(feed, UnsubscribeFeed):
            return
        today = utcnow().date()
        try:
            addresses = await feed.email_unsubscribes(target.start, today)
        except ProviderError as error:
            log.warning("pulling unsubscribes from %s failed: %s", target.name, error)
            return
        await asyncio.to_thread(self._record, target, addresses, today)

    def _record(self, target: _Pulled, addresses: list[str], through: date) -> None:
        with self.database.session() as session:
            suppress_reported_opt_outs(session, target.project_id, target.name, addresses)
            cursor = session.get(UnsubscribePullCursor, target.config_id)
            if cursor is None:
                cursor = UnsubscribePullCursor(
                    provider_config_id=target.config_id, start_date=through.isoformat()
                )
            cursor.start_date = through.isoformat()
            cursor.updated_at = utcnow()
            session.add(cursor)
