"""Schema migrations: Alembic, driven from code so ``dm migrate`` needs no alembic.ini.

In distributed mode the same database also holds procrastinate's job queue; its schema is
applied once, beside ours (``upgrade_queue``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, text

__all__ = ["alembic_config", "queue_schema_applied", "upgrade", "upgrade_queue"]

MIGRATIONS = Path(__file__).parent.parent / "migrations"
# Any constant shared by every migrating process: two ``dm migrate`` at once apply it once.
_QUEUE_SCHEMA_LOCK = 0x646D_7175


def alembic_config() -> Config:
    """An Alembic configuration pointing at this package's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def queue_schema_applied(engine: Engine) -> bool:
    """Whether procrastinate's tables exist in the connection's schema (its search_path)."""
    with engine.connect() as connection:
        return (
            connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
            is not None
        )


def upgrade_queue(engine: Engine) -> bool:
    """Apply procrastinate's schema (PostgreSQL) unless it is there; whether it was applied.

    The schema goes into the first schema of the connection's search_path, like our tables.
    """
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _QUEUE_SCHEMA_LOCK})
        present = connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        if present is not None:
            return False
        # The raw cursor runs the multi-statement script without parameter parsing ("%" stays).
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(SchemaManager.get_schema())
    return True
