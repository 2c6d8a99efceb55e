"""Customer field normalisation."""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from distribution.customers.customer_input import (
    CustomerIn,
    ValidCustomer,
    _plus_digits_number,
    normalize_country,
    normalize_email,
    normalize_phone,
    validate_customer,
)

ATEXT = "abcXYZ019_!#$%&'*+-/=?^`{|}~"
local_parts = st.text(alphabet=ATEXT + '."@ äß', min_size=0, max_size=70)
domains = st.sampled_from(
    [
        "example.com",
        "EXAMPLE.com",
        "exämple.com",
        "localhost",
        "mail.co.uk",
        "sub-.example.com",
        "-bad.com",
        "a" * 70 + ".com",
        "test",
        "x.test",
        "[127.0.0.1]",
        "",
        "b@c.com",
        "xn--exmple-cua.com",
    ]
)


def _library(address: str) -> str | None:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def _ours(address: str) -> str | None:
    try:
        return normalize_email(address)
    except ValueError:
        return None


@given(local=local_parts, domain=domains)
@settings(max_examples=800)
def test_email_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert _ours(address) == _library(address)


def test_email_domain_is_lowercased_and_local_part_kept() -> None:
    assert normalize_email("John.Doe@Example.COM") == "John.Doe@example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 (415) 555-2671", "+14155552671"),
        ("415-555-2671", "+14155552671"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_phone_numbers_become_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw, "US") == expected


@pytest.mark.parametrize("raw", ["12", "+447700900123", "call me", "+1 555"])
def test_invalid_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        normalize_phone(raw, "US")


def test_phone_default_region_applies_to_numbers_without_plus() -> None:
    assert normalize_phone("07911 123456", "GB") == "+447911123456"
    assert normalize_phone("0049 30 123456", "GB") == "+4930123456"  # the UK's IDD prefix


@pytest.mark.parametrize(
    ("raw", "code"),
    [("FR", "FR"), ("fr", "FR"), ("France", "FR"), ("united kingdom", "GB"), ("Atlantis", None)],
)
def test_countries_by_code_or_name(raw: str, code: str | None) -> None:
    assert normalize_country(raw) == code


def test_absent_fields_are_not_touched_and_null_clears() -> None:
    result = validate_customer(CustomerIn(name=None, locale="pt_br"), default_region="US")
    assert isinstance(result, ValidCustomer)
    assert result.columns == {"name": None, "locale": "pt-BR"}


def test_metadata_keys_with_dots_are_refused() -> None:
    result = validate_customer(CustomerIn(metadata={"a.b": 1}), default_region="US")
    assert isinstance(result, list)
    assert result[0].field == "metadata.a.b"


@pytest.mark.parametrize(
    "metadata",
    [{"x": float("nan")}, {"x": float("inf")}, {"x": "a\x00b"}, {"x": {"y": [1.0, float("-inf")]}}],
)
def test_values_no_database_can_hold_are_refused(metadata: dict[str, object]) -> None:
    result = validate_customer(CustomerIn(metadata=metadata), default_region="US")
    assert isinstance(result, list)
    assert result[0].field == "metadata.x"


def test_nul_characters_in_text_are_refused() -> None:
    result = validate_customer(CustomerIn(name="a\x00b"), default_region="US")
    assert isinstance(result, list)
    assert result[0].field == "name"


def _phone_through_parse(value: str, region: str) -> str:
    # normalize_phone as defined: phonenumbers parses, validates and formats every number.
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"is not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"is not a valid phone number (numbers without + are read as {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _outcome(normalize: Callable[[str, str], str], value: str, region: str) -> str:
    try:
        return "ok " + normalize(value, region)
    except ValueError as error:
        return "error " + str(error)


def _example_numbers() -> list[str]:
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return sorted(found)


DIGITS = "0123456789"


def _changed(number: str, position: int, inserted: str, dropped: int) -> str:
    kept = number[: max(2, len(number) - dropped)]
    position = min(position + 2, len(kept))
    return kept[:position] + inserted + kept[position:]


country_codes = st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)).map(str)
plus_digits = st.one_of(
    # Real numbers of every region, whole or with digits dropped at the end or put in between.
    st.builds(
        _changed,
        st.sampled_from(_example_numbers()),
        st.integers(0, 16),
        st.text(DIGITS, max_size=3),
        st.integers(0, 2),
    ),
    st.tuples(country_codes, st.text(DIGITS, max_size=18)).map(lambda t: "+" + t[0] + t[1]),
    st.text(DIGITS, min_size=1, max_size=22).map(lambda d: "+" + d),
)


@given(value=plus_digits, region=st.sampled_from(["US", "GB", "DE", "BR", "IT", "ZZ"]))
@settings(max_examples=3000)
def test_phone_fast_path_agrees_with_phonenumbers(value: str, region: str) -> None:
    assert _outcome(normalize_phone, value, region) == _outcome(_phone_through_parse, value, region)


def test_every_example_number_agrees_with_phonenumbers() -> None:
    examples = _example_numbers()
    for value in examples:
        assert _outcome(normalize_phone, value, "US") == _outcome(_phone_through_parse, value, "US")
    # Most take the fast path, so the property above is about it.
    assert sum(_plus_digits_number(v) is not None for v in examples) > len(examples) * 0.8
