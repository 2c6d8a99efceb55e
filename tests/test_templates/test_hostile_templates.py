"""Hostile templates stop with a bounded error, in send and preview mode, within seconds.

MJML and HTML cases run in a child process: a regression there can segfault the MJML library,
which must fail these tests, not kill the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from templates import (
    EmailSource,
    RenderLimitError,
    RenderLimits,
    SmsSource,
    TemplateError,
    TemplateRenderError,
    TemplateSyntaxError,
    compile_email,
    compile_sms,
    preview_email,
    preview_sms,
    sample_context,
)
from tests.hostile_templates import HOSTILE_EMAIL_TEMPLATES, HOSTILE_SMS_TEMPLATES

LIMITS = RenderLimits(time_budget=0.5)
# A safety bound against freezes, not a speed target.
MAX_SECONDS = 3.0


def _expected(case_id: str) -> type[TemplateError]:
    if case_id.startswith("internals-"):
        return TemplateRenderError
    if case_id.startswith("syntax-"):
        return TemplateSyntaxError
    return RenderLimitError


def _in_child(case_id: str) -> bool:
    return case_id.startswith(("mjml-", "html-"))


def _outcome(run: Any) -> dict[str, Any]:
    """Run, and describe the error it raised (or its absence) and how long it took."""
    start = time.monotonic()
    try:
        run()
        error: dict[str, Any] | None = None
    except TemplateError as raised:
        error = {"class": type(raised).__name__, "mro": [k.__name__ for k in type(raised).__mro__]}
        error["message"] = raised.message
    return {"error": error, "seconds": time.monotonic() - start}


def _email_outcomes(source: dict[str, Any]) -> dict[str, Any]:
    context = sample_context()
    email = EmailSource(**source)
    send = _outcome(lambda: compile_email(email, limits=LIMITS).render(context))
    start = time.monotonic()
    errors = preview_email(email, context, limits=LIMITS).errors
    preview = {"errors": [e.message for e in errors], "seconds": time.monotonic() - start}
    return {"send": send, "preview": preview}


def _check(case_id: str, outcomes: dict[str, Any]) -> None:
    send, preview = outcomes["send"], outcomes["preview"]
    assert send["seconds"] < MAX_SECONDS
    if not (case_id.startswith("mjml-textloop-") and send["error"] is None):
        assert send["error"] is not None, f"{case_id} rendered without an error"
        assert _expected(case_id).__name__ in send["error"]["mro"], send["error"]
        assert send["error"]["message"]
    assert preview["errors"], f"{case_id} previewed without an error"
    assert preview["seconds"] < MAX_SECONDS
    if case_id.startswith("internals-"):
        assert "not a value" in send["error"]["message"]
        assert "not a value" in preview["errors"][0]


_CHILD = """
import json, sys
from tests.test_templates.test_hostile_templates import _email_outcomes
from tests.hostile_templates import HOSTILE_EMAIL_TEMPLATES
for case_id, source, _note in HOSTILE_EMAIL_TEMPLATES:
    if case_id in sys.argv[1:]:
        print(json.dumps({"id": case_id, **_email_outcomes(source)}), flush=True)
"""


@pytest.fixture(scope="module")
def child_outcomes() -> dict[str, Any]:
    """Outcomes of the MJML/HTML cases, from one child process (a crash ends only it)."""
    ids = [case_id for case_id, _source, _note in HOSTILE_EMAIL_TEMPLATES if _in_child(case_id)]
    # From the project root, so the child imports this checkout's packages first.
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *ids],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
        check=False,
    )
    outcomes = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        outcomes[row.pop("id")] = row
    outcomes["_returncode"] = done.returncode
    return outcomes


@pytest.mark.parametrize(
    ("case_id", "source"),
    [(case_id, source) for case_id, source, _note in HOSTILE_EMAIL_TEMPLATES],
    ids=[case_id for case_id, _source, _note in HOSTILE_EMAIL_TEMPLATES],
)
def test_hostile_email_stops_with_a_bounded_error(
    case_id: str, source: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    if _in_child(case_id):
        outcomes = request.getfixturevalue("child_outcomes")
        assert case_id in outcomes, f"the child process died (exit {outcomes['_returncode']})"
        _check(case_id, outcomes[case_id])
    else:
        _check(case_id, _email_outcomes(source))


@pytest.mark.parametrize(
    ("case_id", "source"),
    [(case_id, source) for case_id, source, _note in HOSTILE_SMS_TEMPLATES],
    ids=[case_id for case_id, _source, _note in HOSTILE_SMS_TEMPLATES],
)
def test_hostile_sms_stops_with_a_bounded_error(case_id: str, source: dict[str, Any]) -> None:
    context = sample_context()
    sms = SmsSource(**source)
    send = _outcome(lambda: compile_sms(sms, limits=LIMITS).render(context))
    start = time.monotonic()
    errors = preview_sms(sms, context, limits=LIMITS).errors
    preview = {"errors": [e.message for e in errors], "seconds": time.monotonic() - start}
    _check(case_id, {"send": send, "preview": preview})


def test_deeply_nested_context_data_is_refused_not_crashed() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(50_000):
        node["x"] = {}
        node = node["x"]
    context = {**sample_context(), "data": deep}
    for body in ("{{ data }}", "{{ data|tojson }}", "{{ data|pprint }}", "{{ [data]|join }}"):
        compiled = compile_email(EmailSource("s", body, "html"), limits=LIMITS)
        with pytest.raises(RenderLimitError, match="nested deeper than 100 levels"):
            compiled.render(context)


def test_method_printed_is_named_with_a_hint() -> None:
    compiled = compile_email(EmailSource("s", "<p>{{ code.code.upper }}</p>", "html"))
    with pytest.raises(TemplateRenderError) as raised:
        compiled.render(sample_context())
    assert raised.value.message == (
        "`code.code.upper` is a method, not a value: did you mean `code.code.upper()`?"
    )


def test_mjml_nesting_limit_is_named() -> None:
    body = "<mjml><mj-body>" + "<mj-wrapper>" * 101 + "</mj-wrapper>" * 101 + "</mj-body></mjml>"
    with pytest.raises(RenderLimitError, match="MJML nesting deeper than 100 levels"):
        compile_email(EmailSource("s", body))


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("{{ [1, 'a'] }}", "[1, &#39;a&#39;]"),
        ("{{ {'a': 1} }}", "{&#39;a&#39;: 1}"),
        ("{{ 2 ** 5000 > 1 }}", "True"),
        ("{{ (9 ** 1000) * (9 ** 1000) > 1 }}", "True"),
        ("{{ ([1, 2] + [3]) | join(',') }}", "1,2,3"),
        ("{{ customer.first_name ~ '!' }}", "Ana!"),
        ("{{ code.code.upper() }}", "ANA-7Q2K"),
    ],
)
def test_data_values_still_print(body: str, shown: str) -> None:
    context = sample_context()
    html = compile_email(EmailSource("s", body, "html")).render(context).html
    assert html == shown.replace("ANA-7Q2K", context["code"]["code"].upper()).replace(
        "Ana!", f"{context['customer']['first_name']}!"
    )


def test_float_overflow_is_a_render_error() -> None:
    compiled = compile_email(EmailSource("s", "{{ 10.0 ** 400 }}", "html"))
    with pytest.raises(TemplateRenderError, match="OverflowError"):
        compiled.render({})
