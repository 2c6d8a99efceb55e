"""Variant resolution tables, the variable schema, filters and the compiled-template cache."""

from __future__ import annotations

import json

import pytest

from templates import (
    FILTER_SCHEMA,
    VARIABLE_SCHEMA,
    CompiledCache,
    EmailSource,
    Variant,
    compile_email,
    format_money,
    locale_chain,
    preview_email,
    resolve_variant,
    sample_context,
)

VARIANTS = [
    Variant("default"),
    Variant("default-pt", locale="pt"),
    Variant("default-pt-BR", locale="pt-BR"),
    Variant("vip", segment_id="vip"),
    Variant("new", segment_id="new"),
    Variant("spring", campaign_id="spring"),
    Variant("spring-en", campaign_id="spring", locale="en"),
    Variant("spring-vip", campaign_id="spring", segment_id="vip"),
    Variant("spring-vip-pt", campaign_id="spring", segment_id="vip", locale="pt"),
]


@pytest.mark.parametrize(
    ("campaign", "segments", "locale", "expected"),
    [
        (None, [], None, "default"),
        (None, [], "pt-BR", "default-pt-BR"),
        (None, [], "pt-PT", "default-pt"),
        (None, [], "pt_br", "default-pt-BR"),
        (None, [], "de", "default"),
        (None, ["vip"], "de", "vip"),
        (None, ["new", "vip"], None, "new"),  # first listed segment wins a tie
        (None, ["vip", "new"], None, "vip"),
        ("spring", [], "de", "spring"),
        ("spring", [], "en-GB", "spring-en"),
        ("spring", ["new"], "en", "spring-en"),  # campaign beats segment
        ("spring", ["vip"], "en", "spring-vip"),  # campaign + segment beats campaign + locale
        ("spring", ["vip"], "pt-BR", "spring-vip-pt"),
        ("autumn", ["vip"], "pt-BR", "vip"),
        ("autumn", ["gold"], "pt-BR", "default-pt-BR"),
    ],
)
def test_resolve_variant(
    campaign: str | None, segments: list[str], locale: str | None, expected: str
) -> None:
    chosen = resolve_variant(VARIANTS, campaign_id=campaign, segment_ids=segments, locale=locale)
    assert chosen is not None
    assert chosen.template == expected


def test_other_languages_are_never_chosen() -> None:
    variants = [Variant("en", locale="en"), Variant("fr", locale="fr")]
    assert resolve_variant(variants, campaign_id=None, segment_ids=[], locale="de") is None
    chosen = resolve_variant(
        variants, campaign_id=None, segment_ids=[], locale="de", default_locale="en"
    )
    assert chosen is not None
    assert chosen.template == "en"


def test_locale_chain() -> None:
    assert locale_chain("pt-BR") == ["pt-br", "pt", None]
    assert locale_chain("zh-Hant-TW", "en") == ["zh-hant-tw", "zh-hant", "zh", "en", None]
    assert locale_chain(None) == [None]


def test_schema_is_json_and_covers_the_issue() -> None:
    data = json.loads(json.dumps({"variables": VARIABLE_SCHEMA, "filters": FILTER_SCHEMA}))
    assert set(data["variables"]) >= {
        "customer",
        "code",
        "reward",
        "referrer",
        "campaign",
        "order",
        "event",
        "links",
        "project",
    }
    assert set(VARIABLE_SCHEMA["customer"]["fields"]) >= {
        "id",
        "source_id",
        "name",
        "first_name",
        "email",
        "phone",
        "address",
        "locale",
        "timezone",
        "metadata",
    }
    for group in VARIABLE_SCHEMA.values():
        for spec in group["fields"].values():
            assert spec["description"]
            assert "example" in spec
            assert spec["type"]


def test_sample_context_is_a_fresh_copy() -> None:
    first = sample_context()
    first["order"]["items"].append({"name": "x"})
    assert len(sample_context()["order"]["items"]) == 2


@pytest.mark.parametrize("spec", FILTER_SCHEMA, ids=lambda spec: spec["name"])
def test_every_filter_example_renders_as_documented(spec: dict[str, str]) -> None:
    preview = preview_email(EmailSource(spec["example"], "<p>x</p>", "html"), sample_context())
    assert preview.errors == []
    assert preview.subject == spec["output"]


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (1050, "EUR", "de", "10,50\xa0€"),
        (1050, "USD", "en-US", "$10.50"),
        (2500, "BRL", "pt-BR", "R$\xa025,00"),
        (500, "JPY", "ja", "￥500"),
        (1050, "USD", "xx-unknown", "$10.50"),
    ],
)
def test_format_money(amount: int, currency: str, locale: str, expected: str) -> None:
    assert format_money(amount, currency, locale) == expected


def test_money_uses_the_customer_locale_from_context() -> None:
    source = EmailSource("{{ reward.amount | money }}", "<p>x</p>", "html")
    compiled = compile_email(source)
    context = sample_context()
    assert compiled.render(context).subject == "R$\xa025,00"
    context["customer"]["locale"] = "en-US"
    assert compiled.render(context).subject == "R$25.00"


def test_datetime_uses_the_customer_timezone() -> None:
    compiled = compile_email(
        EmailSource("{{ event.created_at | datetime('short') }}", "<p/>", "html")
    )
    context = sample_context()
    context["customer"].update(locale="en-US", timezone="Asia/Tokyo")
    assert compiled.render(context).subject == "4/2/26, 11:30\u202fPM"


def test_cache_keeps_recent_entries_and_compiles_once() -> None:
    cache: CompiledCache[str] = CompiledCache(maxsize=2)
    calls: list[str] = []

    def compile_(key: str) -> str:
        calls.append(key)
        return key.upper()

    assert cache.get_or_compile("a", lambda: compile_("a")) == "A"
    assert cache.get_or_compile("a", lambda: compile_("a")) == "A"
    cache.get_or_compile("b", lambda: compile_("b"))
    cache.get_or_compile("a", lambda: compile_("a"))
    cache.get_or_compile("c", lambda: compile_("c"))
    assert calls == ["a", "b", "c"]
    assert "a" in cache
    assert "b" not in cache
    assert len(cache) == 2
