"""The procrastinate App of a database URL, with this project's tasks registered on it."""

from __future__ import annotations

import procrastinate
from sqlalchemy.engine import make_url

from distribution.distributed import tasks

__all__ = ["QUEUES", "build_queue_app", "queue_conninfo"]

# deliveries: batches of delivery ids; bulk: bulk job rounds; maintenance: the sweeper.
QUEUES = ("deliveries", "bulk", "maintenance")


def queue_conninfo(database_url: str) -> str:
    """A libpq connection string for procrastinate from our SQLAlchemy URL.

    Same server, database and options (a ``search_path`` in particular), so the queue's tables
    sit beside ours.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("the distributed mode needs PostgreSQL (postgresql+psycopg://...)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_queue_app(
    database_url: str, *, sweep_interval: int = 5, schedule_interval: int = 60, pool_size: int = 10
) -> procrastinate.App:
    """A procrastinate App on the database; open it (``open_async``) before deferring."""
    connector = procrastinate.PsycopgConnector(
        conninfo=queue_conninfo(database_url), min_size=1, max_size=pool_size
    )
    app = procrastinate.App(connector=connector)
    tasks.register(app, sweep_interval=sweep_interval, schedule_interval=schedule_interval)
    return app
