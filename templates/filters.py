"""Locale-aware filters: `money`, `date`, `datetime` (Babel), registered on every environment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, get_currency_precision
from jinja2 import pass_context
from jinja2.runtime import Context, Undefined

__all__ = ["FILTERS", "format_money", "parse_locale"]

_DEFAULT_LOCALE = "en"


@lru_cache(maxsize=256)
def parse_locale(tag: str | None) -> Locale:
    """Parse `pt-BR`, `pt_BR` or `pt` into a Babel locale; unknown tags fall back to English."""
    if tag:
        try:
            return Locale.parse(tag.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            pass
    return Locale.parse(_DEFAULT_LOCALE)


def _context_value(context: Context, group: str, key: str) -> Any:
    holder = context.get(group)
    if isinstance(holder, dict):
        return holder.get(key)
    return None


# Babel formatting costs tens of microseconds and bulk sends repeat the same few amounts,
# currencies, locales and dates: cache the formatted strings.
@lru_cache(maxsize=8192)
def format_money(amount_minor: int | Decimal, currency: str, locale: str | None = None) -> str:
    """Format minor units (cents) as a localised price: 1050, "EUR", "de" -> "10,50 €"."""
    digits = get_currency_precision(currency)
    amount = Decimal(amount_minor).scaleb(-digits)
    return format_currency(amount, currency, locale=parse_locale(locale))


@pass_context
def money_filter(
    context: Context, amount: Any, currency: str | None = None, locale: str | None = None
) -> str:
    """`{{ reward.amount | money(reward.currency) }}`: minor units to a localised amount."""
    if isinstance(amount, Undefined):
        return str(amount)
    if isinstance(currency, Undefined):
        return str(currency)
    currency = currency or _context_value(context, "reward", "currency") or "USD"
    locale = locale or _context_value(context, "customer", "locale")
    if isinstance(amount, str):
        amount = Decimal(amount)
    return format_money(amount, str(currency).upper(), locale)


@lru_cache(maxsize=4096)
def _parse_iso(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _as_datetime(value: Any) -> dt.datetime | dt.date | None:
    if isinstance(value, dt.datetime | dt.date):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if isinstance(value, str):
        return _parse_iso(value)
    return None


@lru_cache(maxsize=512)
def _zone(name: Any) -> dt.tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


@pass_context
def date_filter(
    context: Context, value: Any, format: str = "medium", locale: str | None = None
) -> str:
    """`{{ code.expiration_date | date }}`: a localised date (short/medium/long/full/pattern)."""
    if isinstance(value, Undefined):
        return str(value)
    moment = _as_datetime(value)
    if moment is None:
        return str(value)
    if isinstance(moment, dt.datetime):
        zone = _zone(_context_value(context, "customer", "timezone"))
        if zone is not None and moment.tzinfo is not None:
            moment = moment.astimezone(zone)
        moment = moment.date()
    locale = locale or _context_value(context, "customer", "locale")
    return _format_date(moment, format, locale)


@lru_cache(maxsize=8192)
def _format_date(moment: dt.date, format: str, locale: str | None) -> str:
    return str(format_date(moment, format=format, locale=parse_locale(locale)))


@lru_cache(maxsize=8192)
def _format_datetime(moment: dt.datetime, format: str, zone: dt.tzinfo, locale: str | None) -> str:
    return str(format_datetime(moment, format=format, tzinfo=zone, locale=parse_locale(locale)))


@pass_context
def datetime_filter(
    context: Context,
    value: Any,
    format: str = "medium",
    timezone: str | None = None,
    locale: str | None = None,
) -> str:
    """`{{ event.created_at | datetime }}`: a localised date and time in the customer's zone."""
    if isinstance(value, Undefined):
        return str(value)
    moment = _as_datetime(value)
    if moment is None:
        return str(value)
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day, tzinfo=dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    zone = _zone(timezone or _context_value(context, "customer", "timezone")) or dt.UTC
    locale = locale or _context_value(context, "customer", "locale")
    return _format_datetime(moment, format, zone, locale)


FILTERS: dict[str, Any] = {
    "money": money_filter,
    "date": date_filter,
    "datetime": datetime_filter,
}
