"""SMS encoding and segment arithmetic at every boundary."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from templates import (
    MissingVariablesError,
    RenderLimitError,
    SmsSource,
    compile_sms,
    gsm_safe_rewrite,
    preview_sms,
    sms_info,
)
from templates.sms import GSM_BASIC, GSM_EXTENSION, sms_parts


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "length"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("ÿ" * 70, "UCS-2", 1, 70),
        ("ÿ" * 71, "UCS-2", 2, 71),
        ("ÿ" * 134, "UCS-2", 2, 134),
        ("ÿ" * 135, "UCS-2", 3, 135),
        # Extension characters cost two septets, also at a boundary.
        ("a" * 158 + "€", "GSM-7", 1, 160),
        ("a" * 159 + "€", "GSM-7", 2, 161),
        ("a" * 304 + "{", "GSM-7", 2, 306),
        ("a" * 305 + "{", "GSM-7", 3, 307),
        ("a" * 159 + "\f", "GSM-7", 2, 161),
        # An emoji is two UTF-16 code units.
        ("🚀" * 35, "UCS-2", 1, 70),
        ("a" * 69 + "🚀", "UCS-2", 2, 71),
        ("🚀" * 67, "UCS-2", 2, 134),
        ("🚀" * 68, "UCS-2", 3, 136),
    ],
)
def test_boundaries(text: str, encoding: str, segments: int, length: int) -> None:
    info = sms_info(text)
    assert (info.encoding, info.segments, info.length) == (encoding, segments, length)


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        # GOV.UK Notify's vectors that do not depend on its sanitising step.
        ("à" * 160, 1),
        ("à" * 161, 2),
        ("à" * 306, 2),
        ("à" * 307, 3),
        ("à" * 918, 6),
        ("ÿ" * 70, 1),
        ("ÿ" * 71, 2),
        ("ÿ" * 134, 2),
        ("ÿ" * 135, 3),
        ("à" * 70 + "ÿ", 2),
        ("^" * 80, 1),
        ("^" * 81, 2),
        ("a" * 158 + "|", 1),
        ("a" * 159 + "|", 2),
        ("a" * 304 + "[]", 3),
    ],
)
def test_notify_vectors(text: str, segments: int) -> None:
    assert sms_info(text).segments == segments


def test_ucs2_characters_are_listed_once_in_order() -> None:
    info = sms_info("Olá 🚀 olá ç")
    assert info.encoding == "UCS-2"
    assert info.ucs2_characters == ["á", "🚀", "ç"]


_GSM_TEXT = st.text(alphabet=sorted(GSM_BASIC | GSM_EXTENSION), max_size=1200)


@given(_GSM_TEXT)
def test_gsm_segments_hold_the_septets(text: str) -> None:
    info = sms_info(text)
    septets = sum(2 if char in GSM_EXTENSION else 1 for char in text)
    assert info.encoding == "GSM-7"
    assert info.length == septets
    capacity = 160 if info.segments == 1 else 153 * info.segments
    assert septets <= capacity
    if info.segments > 1:
        assert septets > (160 if info.segments == 2 else 153 * (info.segments - 1))


@given(st.text(max_size=600))
def test_any_text_fits_its_segments(text: str) -> None:
    info = sms_info(text)
    if info.encoding == "UCS-2":
        units = len(text.encode("utf-16-le")) // 2
        assert info.length == units
        assert info.ucs2_characters
        assert units <= (70 if info.segments == 1 else 67 * info.segments)
    else:
        assert not info.ucs2_characters
    assert (info.segments == 0) == (text == "")


@given(st.text(max_size=300))
def test_gsm_safe_rewrite_never_adds_ucs2_characters(text: str) -> None:
    before = set(sms_info(text).ucs2_characters)
    after = set(sms_info(gsm_safe_rewrite(text)).ucs2_characters)
    assert after <= before


def test_gsm_safe_rewrite_downgrades_typography_and_accents() -> None:
    text = "“Olá” — use ‘ANA’… até já, ça va, Łódź"
    rewritten = gsm_safe_rewrite(text)
    assert rewritten == "\"Ola\" - use 'ANA'... até ja, ca va, Lodz"  # é is GSM-7
    assert sms_info(rewritten).encoding == "GSM-7"
    # GSM-7's own accented letters stay as they are; emoji have no equivalent and stay.
    assert gsm_safe_rewrite("é ñ ü à 🚀") == "é ñ ü à 🚀"


def test_compiled_sms_renders_with_info_and_optional_rewrite() -> None:
    context = {"customer": {"first_name": "Ana"}, "code": {"code": "ANA-7K2Q"}}
    body = "Olá {{ customer.first_name }}! Código {{ code.code }} – válido"
    plain = compile_sms(SmsSource(body)).render(context)
    assert plain.info.encoding == "UCS-2"
    assert plain.warnings
    safe = compile_sms(SmsSource(body, gsm_safe=True)).render(context)
    assert safe.body == "Ola Ana! Codigo ANA-7K2Q - valido"
    assert safe.info.encoding == "GSM-7"
    assert safe.info.segments == 1


def test_sms_send_is_strict_and_preview_is_lenient() -> None:
    source = SmsSource("Hi {{ customer.first_name }}, code {{ code.code }}")
    with pytest.raises(MissingVariablesError) as raised:
        compile_sms(source).render({})
    assert raised.value.missing == ["customer.first_name", "code.code"]
    preview = preview_sms(source, {"code": {"code": "X1"}})
    assert preview.body == "Hi {{ customer.first_name }}, code X1"
    assert preview.missing == ["customer.first_name"]
    assert preview.info is not None


def test_sms_over_the_segment_limit_is_refused() -> None:
    compiled = compile_sms(SmsSource("{% for i in range(12) %}{{ 'x' * 153 }}{% endfor %}"))
    with pytest.raises(RenderLimitError, match="SMS segments"):
        compiled.render({})
    assert compile_sms(SmsSource("{{ 'x' * 1530 }}")).render({}).info.segments == 10


@pytest.mark.parametrize(
    ("text", "lengths"),
    [
        ("", []),
        ("a" * 160, [160]),
        ("a" * 161, [153, 8]),
        ("a" * 306, [153, 153]),
        ("a" * 307, [153, 153, 1]),
        ("a" * 152 + "|" + "b" * 10, [152, 11]),  # "|" ends at septet 154: the second part
        ("ÿ" * 71, [67, 4]),
        ("a" * 66 + "🚀" + "b" * 5, [66, 6]),  # the emoji's pair crosses 67: the second part
    ],
)
def test_parts_follow_the_billed_segments(text: str, lengths: list[int]) -> None:
    info = sms_info(text)
    parts = sms_parts(text, info)
    assert [len(part) for part in parts] == lengths
    assert len(parts) == info.segments
    assert "".join(parts) == text


@given(st.text(alphabet=st.sampled_from([*sorted(GSM_BASIC | GSM_EXTENSION), "ÿ", "🚀"])))
def test_parts_always_rejoin_to_the_text_one_per_segment(text: str) -> None:
    info = sms_info(text)
    parts = sms_parts(text, info)
    assert "".join(parts) == text
    assert len(parts) == info.segments
