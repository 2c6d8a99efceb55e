"""Folding PostgreSQL's count deltas into ``delivery_count`` (see ``models.delivery_counts``).

The fold runs with the scheduler's round, and whenever a read finds many deltas waiting.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from distribution.models.delivery_counts import COLUMNS, KEY_LIST

__all__ = ["FOLD_LOCK", "fold", "fold_when_many", "unfolded"]

# Any constant of ours: two folds at once would both try to move the same deltas.
FOLD_LOCK = 0x646D_636E

_FOLD = (
    f"WITH moved AS (DELETE FROM delivery_count_delta RETURNING {COLUMNS}) "  # noqa: S608 (our names only)
    f"INSERT INTO delivery_count ({COLUMNS}) "
    f"SELECT {KEY_LIST}, sum(messages), sum(sent), sum(converted) FROM moved GROUP BY {KEY_LIST} "
    f"ON CONFLICT ({KEY_LIST}) DO UPDATE SET "
    "messages = delivery_count.messages + excluded.messages, "
    "sent = delivery_count.sent + excluded.sent, "
    "converted = delivery_count.converted + excluded.converted"
)


def fold(engine: Engine) -> int:
    """Move PostgreSQL's deltas into the counts in a transaction of its own; how many counts
    rows it wrote. Skipped (0) while another fold runs, and on SQLite (nothing to fold)."""
    if engine.dialect.name == "sqlite":
        return 0
    with engine.begin() as connection:
        locked = connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FOLD_LOCK}
        ).scalar_one()
        if not locked:
            return 0
        return connection.exec_driver_sql(_FOLD).rowcount


def unfolded(connection: Connection, at_least: int) -> bool:
    """Whether ``at_least`` deltas wait to be folded (counted no further than that)."""
    found = connection.execute(
        text("SELECT count(*) FROM (SELECT 1 FROM delivery_count_delta LIMIT :n) AS waiting"),
        {"n": at_least},
    ).scalar_one()
    return int(found) >= at_least


def fold_when_many(connection: Connection, many: int) -> None:
    """Fold first when ``many`` deltas wait (PostgreSQL), so a read adds up few of them."""
    if connection.dialect.name != "sqlite" and unfolded(connection, many):
        fold(connection.engine)
