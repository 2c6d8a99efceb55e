"""Validation and normalisation of customer input, shared by the API, batches and imports.

The input shape is Voucherify's customer object plus ``locale`` and ``timezone``. A field that is
absent stays as it is on update; a field sent as ``null`` is cleared. ``birthday`` is Voucherify's
deprecated name of ``birthdate``; ``id`` and ``system_metadata`` are Voucherify's but set by the
service, so they are refused with that reason rather than as unknown fields.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from typing import Any

import msgspec
import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneMetadata

from distribution.errors import FieldError
from distribution.storage.json_bounds import storable

__all__ = [
    "ADDRESS_FIELDS",
    "MAX_METADATA_DEPTH",
    "AddressIn",
    "CustomerIn",
    "ValidCustomer",
    "field_error_from_msgspec",
    "normalize_country",
    "normalize_email",
    "normalize_phone",
    "validate_customer",
]

ADDRESS_FIELDS = ("city", "state", "line_1", "line_2", "country", "postal_code")
MAX_TEXT = 255
MAX_DESCRIPTION = 10_000
MAX_METADATA_BYTES = 16_384
# Arrays and objects inside one metadata value: templates read a few levels, never dozens.
MAX_METADATA_DEPTH = 10

Unset = msgspec.UnsetType


class AddressIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A postal address; every part optional."""

    city: str | Unset | None = msgspec.UNSET
    state: str | Unset | None = msgspec.UNSET
    line_1: str | Unset | None = msgspec.UNSET
    line_2: str | Unset | None = msgspec.UNSET
    country: str | Unset | None = msgspec.UNSET
    postal_code: str | Unset | None = msgspec.UNSET


class CustomerIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A customer as sent by clients: Voucherify's customer object plus locale and timezone."""

    source_id: str | Unset | None = msgspec.UNSET
    name: str | Unset | None = msgspec.UNSET
    email: str | Unset | None = msgspec.UNSET
    phone: str | Unset | None = msgspec.UNSET
    address: AddressIn | Unset | None = msgspec.UNSET
    description: str | Unset | None = msgspec.UNSET
    metadata: dict[str, Any] | Unset | None = msgspec.UNSET
    locale: str | Unset | None = msgspec.UNSET
    timezone: str | Unset | None = msgspec.UNSET
    birthdate: str | Unset | None = msgspec.UNSET
    birthday: str | Unset | None = msgspec.UNSET


# Fields of Voucherify's objects that the service sets (a customer's id, its system metadata):
# refused saying so rather than as unknown fields. Not struct fields, so code that copies the
# writable fields of a customer object (an event's customer) skips them.
_SET_BY_SERVICE = frozenset({"id", "system_metadata"})


@dataclass
class ValidCustomer:
    """Validated, normalised values: ``columns`` to set (None clears), metadata changes apart."""

    columns: dict[str, Any] = field(default_factory=dict)
    metadata_set: dict[str, Any] = field(default_factory=dict)
    metadata_removed: set[str] = field(default_factory=set)
    metadata_replace: bool = False

    @property
    def source_id(self) -> str | None:
        value = self.columns.get("source_id")
        return value if isinstance(value, str) else None


@cache
def _country_names() -> dict[str, str]:
    # English names plus each country's own name in its main languages would be ideal; English
    # and the codes cover what CRMs export.
    names: dict[str, str] = {}
    for code, name in Locale("en").territories.items():
        if len(code) == 2 and code.isalpha():
            names[name.casefold()] = code
            names[code.casefold()] = code
    return names


def normalize_country(value: str) -> str | None:
    """ISO 3166-1 alpha-2 code for a code or an English country name, or None."""
    return _country_names().get(value.strip().casefold())


@cache
def _locale(value: str) -> str | None:
    try:
        locale = Locale.parse(value.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    return f"{locale.language}-{locale.territory}" if locale.territory else locale.language


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _nests_deeper(value: object, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels in ``value``.

    Level by level, not recursively: the value may nest deeper than Python lets a function
    recurse.
    """
    if not isinstance(value, dict | list):
        return False  # most metadata values: without walking ``limit`` empty levels
    level = [value]
    for _ in range(limit):
        level = [
            inner
            for item in level
            if isinstance(item, dict | list)
            for inner in (item.values() if isinstance(item, dict) else item)
        ]
    return any(isinstance(item, dict | list) for item in level)


def _text(errors: list[FieldError], name: str, value: str, limit: int = MAX_TEXT) -> str | None:
    if "\x00" in value:
        errors.append(FieldError(name, "must not contain NUL characters"))
        return None
    value = value.strip()
    if len(value) > limit:
        errors.append(FieldError(name, f"must be at most {limit} characters"))
        return None
    return value or None


# RFC 5322 dot-atom, the plain ASCII local part that email-validator accepts unchanged.
_DOT_ATOM = re.compile(r"[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+(?:\.[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+)*\Z")


@lru_cache(maxsize=8192)
def _domain(domain: str) -> str | None:
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalize_email(value: str) -> str:
    """The normalised address (domain lower-cased, Unicode normalised); raises ValueError.

    email-validator costs about 50 microseconds an address, mostly on the domain, and customer
    lists share few domains. So a plain dot-atom local part plus a domain the library already
    accepted is put together here; anything else goes through the library. A property test
    checks that both ways always agree.
    """
    local, at, domain = value.rpartition("@")
    if at and len(value) <= 254 and _DOT_ATOM.match(local):
        normalized_domain = _domain(domain)
        if normalized_domain is not None:
            return f"{local}@{normalized_domain}"
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None


# "+" and digits only, as parse would accept them: the form of E.164 and of most imports.
_PLUS_DIGITS = re.compile(r"\+([1-9]\d{2,19})")


@cache
def _national_prefix(country_code: int) -> re.Pattern[str] | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return re.compile("")  # matches everything: such numbers go through parse
    prefix = metadata.national_prefix_for_parsing
    return re.compile(prefix) if prefix else None


def _plus_digits_number(value: str) -> phonenumbers.PhoneNumber | None:
    """What ``phonenumbers.parse`` makes of ``+`` and digits, found directly; None if unsure.

    parse is half the cost of checking a phone number, spent on forms that ``+`` and digits
    never take. Its country code is the shortest known prefix and the rest the national number,
    unless that starts with 0 or with the country's national prefix, or has a length parse
    refuses: those still go through parse. A property test checks that both ways agree.
    """
    match = _PLUS_DIGITS.fullmatch(value)
    if match is None:
        return None
    digits = match[1]
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if not 2 <= len(national) <= 17 or national[0] == "0":
        return None
    prefix = _national_prefix(country_code)
    if prefix is not None and prefix.match(national):
        return None
    return phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))


def normalize_phone(value: str, region: str) -> str:
    """E.164 form of a phone number; numbers without ``+`` use ``region``. Raises ValueError."""
    number = _plus_digits_number(value)
    if number is None:
        number = _parse_phone(value, region)
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"is not a valid phone number (numbers without + are read as {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_phone(value: str, region: str) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"is not a phone number ({error})") from None


def validate_customer(data: CustomerIn, *, default_region: str) -> ValidCustomer | list[FieldError]:
    """Check every field of ``data`` and return normalised values, or every error found."""
    errors: list[FieldError] = []
    out = ValidCustomer()
    cols = out.columns

    for name in ("source_id", "name"):
        value = getattr(data, name)
        if value is None:
            cols[name] = None
        elif isinstance(value, str):
            cols[name] = _text(errors, name, value)

    if data.description is None:
        cols["description"] = None
    elif isinstance(data.description, str):
        cols["description"] = _text(errors, "description", data.description, MAX_DESCRIPTION)

    if data.email is None or data.email == "":
        cols["email"] = None
    elif isinstance(data.email, str):
        try:
            cols["email"] = normalize_email(data.email.strip())
        except ValueError as error:
            errors.append(FieldError("email", str(error)))

    if data.phone is None or data.phone == "":
        cols["phone"] = None
    elif isinstance(data.phone, str):
        try:
            cols["phone"] = normalize_phone(data.phone, default_region)
        except ValueError as error:
            errors.append(FieldError("phone", str(error)))

    if data.address is None:
        cols.update({f"address_{part}": None for part in ADDRESS_FIELDS})
    elif isinstance(data.address, AddressIn):
        for part in ADDRESS_FIELDS:
            value = getattr(data.address, part)
            if value is None:
                cols[f"address_{part}"] = None
            elif isinstance(value, str):
                text = _text(errors, f"address.{part}", value)
                if part == "country" and text is not None:
                    code = normalize_country(text)
                    if code is None:
                        errors.append(
                            FieldError("address.country", "is not a country name or ISO code")
                        )
                    text = code
                cols[f"address_{part}"] = text

    if data.locale is None:
        cols["locale"] = None
    elif isinstance(data.locale, str):
        locale = _locale(data.locale.strip())
        if locale is None:
            errors.append(FieldError("locale", "is not a known locale such as en or pt-BR"))
        cols["locale"] = locale

    if data.timezone is None:
        cols["timezone"] = None
    elif isinstance(data.timezone, str):
        if data.timezone not in _timezones():
            errors.append(FieldError("timezone", "is not an IANA time zone such as Europe/Paris"))
        cols["timezone"] = data.timezone

    _birthdate(errors, cols, data)

    if data.metadata is None:
        out.metadata_replace = True
    elif isinstance(data.metadata, dict):
        too_deep = [k for k, v in data.metadata.items() if _nests_deeper(v, MAX_METADATA_DEPTH)]
        for key in too_deep:
            reason = f"must not nest arrays and objects more than {MAX_METADATA_DEPTH} levels"
            errors.append(FieldError(f"metadata.{key}", reason))
        # Measuring and checking walk the values recursively: only shallow ones are safe to.
        if not too_deep and len(json.dumps(data.metadata, default=str)) > MAX_METADATA_BYTES:
            errors.append(FieldError("metadata", f"must be at most {MAX_METADATA_BYTES} bytes"))
        for key, value in data.metadata.items():
            if key in too_deep:
                continue
            if not storable(value):
                errors.append(
                    FieldError(f"metadata.{key}", "NaN, Infinity and NUL characters are refused")
                )
            elif not key or len(key) > 100 or "." in key or not storable(key):
                errors.append(
                    FieldError(f"metadata.{key}", "keys are 1-100 characters without a dot")
                )
            elif value is None:
                out.metadata_removed.add(key)
            else:
                out.metadata_set[key] = value

    return errors or out


def _birthdate(errors: list[FieldError], cols: dict[str, Any], data: CustomerIn) -> None:
    """``birthdate``, or its deprecated name ``birthday``: an ISO date, stored as its text."""
    given = {
        name: value
        for name in ("birthdate", "birthday")
        if (value := getattr(data, name)) is not msgspec.UNSET
    }
    for name, value in given.items():
        if value is None or value == "":
            continue
        try:
            # fromisoformat also takes 20240131; Voucherify's format is YYYY-MM-DD only.
            if len(value) != 10:
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            errors.append(FieldError(name, "must be a date as YYYY-MM-DD"))
            return
    values = {value or None for value in given.values()}
    if len(values) > 1:
        errors.append(FieldError("birthday", "differs from birthdate (birthday is its old name)"))
    elif values:
        cols["birthdate"] = values.pop()


def field_error_from_msgspec(message: str) -> FieldError:
    """Turn msgspec's ``Expected `str`, got `int` - at `$.email``` into a FieldError."""
    reason, _, path = message.partition(" - at `")
    path = path.rstrip("`").removeprefix("$").lstrip(".")
    if reason.startswith("Object contains unknown field"):
        unknown = reason.split("`")[1]
        set_by_service = unknown in _SET_BY_SERVICE and not path
        reason = "is set by the service (read-only)" if set_by_service else "is not a known field"
        path = f"{path}.{unknown}" if path else unknown
    return FieldError(path or "body", reason)
