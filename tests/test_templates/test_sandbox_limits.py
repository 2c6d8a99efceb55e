"""Runaway templates stop with RenderLimitError; injection payloads are refused."""

from __future__ import annotations

import pytest

from templates import (
    EmailSource,
    RenderLimitError,
    RenderLimits,
    SmsSource,
    TemplateError,
    UnsafeTemplateError,
    compile_email,
    compile_sms,
    preview_email,
)

# A small budget keeps the suite fast; the default is 1 s.
FAST_LIMITS = RenderLimits(time_budget=0.3)


def _render(body: str) -> str:
    compiled = compile_email(EmailSource("s", body, body_format="html"), limits=FAST_LIMITS)
    return compiled.render({"name": "Ana"}).html


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'A' * 10**9 }}",
        "{{ 10**9 * 'A' }}",
        "{{ 'a'.ljust(10**9) }}",
        "{{ 'a'.center(10**9) }}",
        "{{ 'a'.zfill(10**9) }}",
        "{{ 'a'|center(10**9) }}",
        "{{ 'a'|indent(10**9, true) }}",
        "{{ ('a' * 1000000)|replace('a', 'aaaaaaaaaa') }}",
        "{{ ('a' * 1000000).replace('a', 'aaaaaaaaaa') }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '%999999999d' % 1 }}",
        "{{ '%999999999s'|format('x') }}",
        "{{ (['a' * 1000000] * 1000)|join }}",
        "{{ [1] * 10**9 }}",
        "{{ range(10**9)|list }}",
        "{% for i in range(10**9) %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for c in 'a' * 100000 %}{% for d in 'a' * 100000 %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{% macro f(n) %}{% if n < 50 %}{{ f(n+1) }}{{ f(n+1) }}{% endif %}{% endmacro %}"
        "{{ f(0) }}",
        "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}",
        "{{ 2 ** (10 ** 9) }}",
        "{{ [1]|batch(10**9, 'x')|list }}",
        "{{ [1, 2]|slice(10**9)|list }}",
    ],
)
def test_runaway_template_stops(body: str) -> None:
    with pytest.raises(RenderLimitError):
        _render(body)


def test_limits_apply_with_the_default_budget_too() -> None:
    compiled = compile_email(
        EmailSource(
            "s",
            "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
            body_format="html",
        )
    )
    with pytest.raises(RenderLimitError, match="too long"):
        compiled.render({})


def test_output_size_limit_is_configurable() -> None:
    small = RenderLimits(max_email_chars=5_000)
    compiled = compile_email(EmailSource("s", "{{ 'x' * 6000 }}", body_format="html"), limits=small)
    with pytest.raises(RenderLimitError, match="too much output"):
        compiled.render({})
    assert "x" * 6000 in compiled.render({}, limits=RenderLimits()).html


def test_runaway_sms_stops() -> None:
    with pytest.raises(RenderLimitError):
        compile_sms(SmsSource("{{ 'x' * 10**8 }}")).render({})


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{{ [].__class__.__base__.__subclasses__() }}",
        "{{ name.__class__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__['__builtins__'] }}",
        "{{ self.__init__.__globals__.__builtins__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ range.__globals__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ (''|attr('__class__'))|attr('__mro__') }}",
        "{{ request|attr('application')|attr('__globals__') }}",
        "{{ '{0.__class__.__mro__}'.format('') }}",
        "{{ '{0.__class__}'.format_map({'0': ''}) }}",
        "{{ '{x.__class__}'.format_map({'x': ''}) }}",
        # CVE-2024-56326: str.format reached through an indirect reference.
        "{% set f = '{0.__class__.__base__.__subclasses__}'.format %}{{ f('') }}",
        "{% set d = {'f': '{0.__class__}'.format} %}{{ d.f('') }}",
        # CVE-2025-27516: |attr to fetch format, then call it.
        "{{ ('{0.__class__.__mro__}'|attr('format'))('') }}",
        "{% set f = '{0.__globals__}'|attr('format') %}{{ f(cycler.__init__) }}",
        # CVE-2024-56201 style: a template that smuggles code through names and filenames.
        "{% set x = '__class__' %}{{ ''[x] }}",
        "{{ ''['__cla' ~ 'ss__'] }}",
        "{{ {}.update(a=1) or 'mutated' }}",
        "{{ [].append(1) }}",
        "{{ lipsum.__globals__ }}",
        "{{ dict.__subclasses__() }}",
        "{{ name.format.__globals__ }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_injection_payload_is_refused(payload: str) -> None:
    with pytest.raises(TemplateError) as raised:
        _render(payload)
    assert isinstance(raised.value, UnsafeTemplateError | TemplateError)
    preview = preview_email(EmailSource("s", payload, body_format="html"), {"name": "Ana"})
    if not preview.errors:  # only possible when the payload names an undefined variable
        assert preview.missing
        for leak in ("<class", "built-in", "function", "module", "subprocess"):
            assert leak not in preview.html


def test_refusals_are_unsafe_template_errors() -> None:
    with pytest.raises(UnsafeTemplateError, match="unsafe"):
        _render("{{ ''.__class__.__mro__ }}")
    with pytest.raises(UnsafeTemplateError):
        _render("{{ [].append(1) }}")


def test_mj_include_reads_no_file() -> None:
    body = '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>'
    with pytest.raises(UnsafeTemplateError, match="mj-include"):
        compile_email(EmailSource("s", body))
    preview = preview_email(EmailSource("s", body), {})
    assert preview.errors
    assert "mj-include" in preview.errors[0].message
    assert "root:" not in preview.html
