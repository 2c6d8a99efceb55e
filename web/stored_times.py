"""Times as the database stores them (naive UTC) and as the API shows and takes them (aware)."""

from __future__ import annotations

from datetime import UTC, datetime

from distribution.errors import FieldError, InvalidInputError

__all__ = ["naive", "utc", "utc_or_none"]


def utc(value: datetime) -> datetime:
    """A stored naive-UTC time as an aware one (rendered with ``Z``)."""
    return value.replace(tzinfo=UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """``utc`` of a time that may be absent."""
    return utc(value) if value is not None else None


def naive(value: datetime | None, field: str) -> datetime | None:
    """An aware time as naive UTC, the stored form; one that UTC cannot hold (a zone's offset
    pushing year 1 or 9999 over the edge) is refused as ``field``'s."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        reason = "is out of range once converted to UTC"
        raise InvalidInputError([FieldError(field, reason)]) from None
