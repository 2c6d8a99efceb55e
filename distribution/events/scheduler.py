"""The embedded scheduler: date triggers, due follow-ups, the statistics fold and stream
retention, on a tick inside the service.

Distributed mode runs the same ``scheduled_round`` as a procrastinate periodic task instead
(``distribution.distributed.tasks``). Either way several may run at once: the event's dedupe
key and the follow-up's conditional update keep every send to one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from distribution.events.date_triggers import fire_date_triggers
from distribution.events.follow_ups import FOLLOW_UP_BATCH, run_due_follow_ups
from distribution.models import utcnow
from distribution.outbox import LinkSettings
from distribution.outbox.notifiers import DeliveryNotifier
from distribution.storage.db import Database
from distribution.storage.delivery_counts import fold
from distribution.storage.polling_loop import PollingLoop
from distribution.webhooks.streams import forget_old_entries

__all__ = ["RoundResult", "Scheduler", "scheduled_round"]

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RoundResult:
    """What one round made: the queued deliveries, and how many follow-ups it settled."""

    queued: list[str]
    follow_ups: int


def scheduled_round(database: Database, links: LinkSettings, now: datetime) -> RoundResult:
    """Fire the date triggers due at ``now`` and settle the follow-ups due by then; fold the
    statistics' deltas (PostgreSQL) so reads add up few of them; forget stream entries past
    their retention."""
    fold(database.engine)
    queued = fire_date_triggers(database, links, now)
    settled = run_due_follow_ups(database, links, now)
    with database.session() as session:
        forget_old_entries(session, now)
    for outcome in settled:
        queued += outcome.delivery_ids
    return RoundResult(queued, len(settled))


class Scheduler(PollingLoop):
    """Runs ``scheduled_round`` every ``poll_interval`` seconds (a minute by default)."""

    name = "scheduler"

    def __init__(
        self,
        database: Database,
        links: LinkSettings,
        notifier: DeliveryNotifier,
        *,
        poll_interval: float = 60.0,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(poll_interval=poll_interval, shutdown_grace=10.0)
        self.database = database
        self.links = links
        self.notifier = notifier
        self.clock = clock

    async def run_once(self) -> int:
        result = await asyncio.to_thread(scheduled_round, self.database, self.links, self.clock())
        self.notifier.queued(result.queued)
        # A full batch of follow-ups may leave more due: go on at once.
        return result.follow_ups if result.follow_ups >= FOLLOW_UP_BATCH else 0
