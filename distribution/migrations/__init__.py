"""Alembic migrations, applied with :func:`distribution.storage.migrate.upgrade`."""
