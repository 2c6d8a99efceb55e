"""Customer field normalisation."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from distribution.customer_input import (
    CustomerIn,
    ValidCustomer,
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
