"""The rules of date triggers and follow-ups: their validation and their arithmetic, pure.

A date trigger is a distribution whose trigger is ``customer.date`` and whose ``schedule`` says
which date of the customer (``birthdate``, ``created_at`` or ``metadata.<key>``), how many days
before (negative) or after it, at what local time (``at``, in the customer's zone, UTC when
unknown) and whether it repeats every year (``repeat``: ``yearly`` or ``once``).

A follow-up is a distribution with a ``delay`` (seconds, or an ISO 8601 duration such as ``P2D``
or ``PT36H``) and a ``recheck`` (``code: not_redeemed`` and/or ``conditions`` in the segment
filter language) checked when the wait is over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from distribution.customers.segment_filter import parse_filter
from distribution.errors import FieldError, InvalidInputError

__all__ = [
    "CATCH_UP",
    "DATE_TRIGGER",
    "MAX_DELAY_SECONDS",
    "DateSchedule",
    "customer_zone",
    "delay_errors",
    "delay_seconds",
    "local_to_utc",
    "parse_schedule",
    "recheck_errors",
    "schedule_errors",
]

#: The trigger of a date distribution: no event of the API has this type, the scan makes them.
DATE_TRIGGER = "customer.date"
#: A missed occurrence (the service was down at its hour) still fires within this long after it;
#: an older one never does, so a restart after a long outage sends no stale greetings.
CATCH_UP = timedelta(hours=24)
#: The longest wait of a follow-up (90 days).
MAX_DELAY_SECONDS = 90 * 24 * 3600
_MAX_OFFSET_DAYS = 366
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class DateSchedule:
    """A validated ``schedule``."""

    field: str
    offset_days: int
    at: time
    repeat: Literal["yearly", "once"]

    @property
    def metadata_key(self) -> str | None:
        """The metadata key for ``metadata.<key>``, else None."""
        return self.field.split(".", 1)[1] if self.field.startswith("metadata.") else None

    def send_date(self, occurrence: date) -> date:
        """The local day the message goes out for the date ``occurrence``."""
        return occurrence + timedelta(days=self.offset_days)

    def occurrence_of(self, value: date, send_day: date) -> date | None:
        """The occurrence of ``value`` whose send day is ``send_day``, if there is one.

        Yearly: the same month and day in that year, from the date's own year on; a 29 February
        falls on 28 February in other years (the one day the customer has in those years).
        """
        day = send_day - timedelta(days=self.offset_days)
        if self.repeat == "once":
            return day if day == value else None
        if day.year < value.year or (self.field == "created_at" and day.year == value.year):
            return None  # no birthday before birth; an anniversary starts one year on
        if (value.month, value.day) == (day.month, day.day):
            return day
        leap_day = (value.month, value.day) == (2, 29)
        if leap_day and not _is_leap(day.year) and (day.month, day.day) == (2, 28):
            return day
        return None


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def parse_schedule(raw: dict[str, Any]) -> DateSchedule:
    """A stored (validated) schedule as a value."""
    field = raw["field"]
    repeat: Literal["yearly", "once"] = raw.get("repeat") or (
        "once" if field.startswith("metadata.") else "yearly"
    )
    return DateSchedule(
        field, int(raw.get("offset_days", 0)), time.fromisoformat(raw["at"]), repeat
    )


def schedule_errors(trigger: str, raw: dict[str, Any] | None) -> list[FieldError]:
    """What is wrong with a distribution's ``schedule`` for its ``trigger``."""
    if raw is None:
        if trigger == DATE_TRIGGER:
            return [FieldError("schedule", f"is required for the trigger {DATE_TRIGGER}")]
        return []
    if trigger != DATE_TRIGGER:
        return [FieldError("schedule", f"needs the trigger {DATE_TRIGGER}")]
    errors = [
        FieldError(f"schedule.{key}", "is not a known field")
        for key in sorted(set(raw) - {"field", "offset_days", "at", "repeat"})
    ]
    field = raw.get("field")
    known = field in ("birthdate", "created_at") or (
        isinstance(field, str) and re.fullmatch(r"metadata\.[A-Za-z0-9_\-]{1,100}", field)
    )
    if not known:
        errors.append(
            FieldError("schedule.field", "must be birthdate, created_at or metadata.<key>")
        )
    offset = raw.get("offset_days", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > _MAX_OFFSET_DAYS:
        errors.append(
            FieldError(
                "schedule.offset_days", f"must be a whole number of days within ±{_MAX_OFFSET_DAYS}"
            )
        )
    at = raw.get("at")
    if not isinstance(at, str) or not _HHMM.match(at):
        errors.append(FieldError("schedule.at", "must be a local time such as 09:00"))
    if raw.get("repeat") not in (None, "yearly", "once"):
        errors.append(FieldError("schedule.repeat", "must be yearly or once"))
    return errors


def delay_seconds(raw: int | str | None) -> int | None:
    """A delay given as seconds or an ISO 8601 duration (``P2D``, ``PT36H``), in seconds.

    Raises:
        InvalidInputError: naming ``delay`` when it is neither, or outside 1 s to 90 days.
    """
    if raw is None:
        return None
    seconds: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        seconds = raw
    elif isinstance(raw, str) and (found := _DURATION.match(raw)) and raw not in ("P", "PT"):
        weeks, days, hours, minutes, secs = (int(part or 0) for part in found.groups())
        seconds = (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + secs
    # Two reasons, so that the form (which always sends whole seconds) shows only the plain one.
    if seconds is None:
        raise InvalidInputError(
            [FieldError("delay", "must be seconds or a duration such as P2D or PT12H")]
        )
    if not 1 <= seconds <= MAX_DELAY_SECONDS:
        raise InvalidInputError([FieldError("delay", "must be from 1 second to 90 days")])
    return seconds


def delay_errors(raw: int | str | None) -> list[FieldError]:
    """``delay_seconds``'s complaint, as a list."""
    try:
        delay_seconds(raw)
    except InvalidInputError as error:
        return list(error.errors)
    return []


def recheck_errors(raw: dict[str, Any] | None, delay: int | str | None) -> list[FieldError]:
    """What is wrong with a ``recheck``: it needs a delay, and knows ``code`` and
    ``conditions``."""
    if raw is None:
        return []
    if delay is None:
        return [FieldError("recheck", "needs a delay: it is checked when the wait is over")]
    errors = [
        FieldError(f"recheck.{key}", "is not a known check")
        for key in sorted(set(raw) - {"code", "conditions"})
    ]
    if raw.get("code") not in (None, "not_redeemed"):
        errors.append(FieldError("recheck.code", "must be not_redeemed"))
    if raw.get("conditions") is not None:
        try:
            parse_filter(raw["conditions"])
        except InvalidInputError as error:
            errors += [
                FieldError(e.field.replace("filter", "recheck.conditions", 1), e.reason)
                for e in error.errors
            ]
    return errors


def customer_zone(timezone: str | None) -> ZoneInfo:
    """The customer's zone; UTC when unknown (or not a zone this machine knows)."""
    if not timezone:
        return _UTC
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return _UTC


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``at`` in ``zone``, as naive UTC (how times are stored).

    A local time that does not exist (inside a spring-forward gap) is read with the offset
    before the change, so 02:30 becomes 03:30 local; one that happens twice takes the first.
    """
    local = datetime.combine(day, at, tzinfo=zone)
    return local.astimezone(_UTC).replace(tzinfo=None)
