"""Alembic migrations, applied with :func:`distribution.migrate.upgrade`."""
