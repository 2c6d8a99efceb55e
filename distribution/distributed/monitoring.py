"""What the job queue holds, for readiness probes and metrics (procrastinate's tables)."""

from __future__ import annotations

from sqlalchemy import text

from distribution.distributed.app import QUEUES
from distribution.storage.db import Database

__all__ = ["queue_depths"]

_WAITING = text(
    "SELECT queue_name, count(*) FROM procrastinate_jobs "
    "WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()) "
    "GROUP BY queue_name"
)


def queue_depths(database: Database) -> dict[str, int]:
    """Jobs due and waiting for a worker, per queue (fails when the queue's tables are missing)."""
    with database.engine.connect() as connection:
        rows = connection.execute(_WAITING).all()
    depths = dict.fromkeys(QUEUES, 0)
    depths.update({str(queue): int(count) for queue, count in rows})
    return depths
