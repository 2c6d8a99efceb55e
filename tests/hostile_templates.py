"""Hostile template sources: each must stop with a bounded error, never a freeze or a crash.

Shared by the engine's tests (tests/test_templates/test_hostile_templates.py) and service-level
suites. Each entry is `(id, source, note)`: `source` holds the keyword arguments of
`EmailSource` or `SmsSource`; the note says what the template attacks. Entries whose id starts
with `internals-` expect a `TemplateRenderError` naming the expression, entries starting with
`syntax-` a `TemplateSyntaxError`, every other one a `RenderLimitError`. Exception: entries
starting with `mjml-textloop-` nest inside a tag whose content MJML copies as it is; a compiled
send, and so a preview and the save check (which compile as sends do), may render them (the loop
output is only text, no library parses it), while a per-recipient render, which hands the result
to MJML, must refuse them. They render against
`templates.sample_context()`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "DEEP_MJML",
    "HOSTILE_EMAIL_TEMPLATES",
    "HOSTILE_SMS_TEMPLATES",
    "MJML_CONTAINERS",
    "NAMES_A_LIMIT",
    "expected_error",
]

#: The issue's report: 3,000 nested mj-wrapper elements segfault the MJML library.
DEEP_MJML = (
    "<mjml><mj-body>{% for i in range(3000) %}<mj-wrapper>{% endfor %}x"
    "{% for i in range(3000) %}</mj-wrapper>{% endfor %}</mj-body></mjml>"
)

#: What an error about a broken limit says (the sandbox's, the nesting scan's or the pool's).
NAMES_A_LIMIT = re.compile(
    r"within the limits|too (long|deep|large|much)|at most|(over|deeper than|more than) [\d,]+"
    r"|recurses"
)
_NAMES_AN_OBJECT = re.compile(r"not a value")
_NAMES_A_LINE = re.compile(r"line \d+")


def expected_error(case_id: str) -> re.Pattern[str]:
    """What the error of a case must say (see the module docstring for the id prefixes)."""
    if case_id.startswith("internals-"):
        return _NAMES_AN_OBJECT
    if case_id.startswith("syntax-"):
        return _NAMES_A_LINE
    return NAMES_A_LIMIT


Case = tuple[str, dict[str, Any], str]

# Tags whose content MJML copies into the HTML as written (see `mjml-textloop-` above).
_TEXT_CONTENT = frozenset({"mj-table", "mj-text", "mj-raw", "div", "table"})

# Every MJML tag that holds other tags, with what it must sit in to be valid MJML.
MJML_CONTAINERS: list[tuple[str, str]] = [
    ("mj-wrapper", "{}"),
    ("mj-section", "{}"),
    ("mj-column", "<mj-section>{}</mj-section>"),
    ("mj-group", "<mj-section>{}</mj-section>"),
    ("mj-hero", "{}"),
    ("mj-accordion", "<mj-section><mj-column>{}</mj-column></mj-section>"),
    (
        "mj-accordion-element",
        "<mj-section><mj-column><mj-accordion>{}</mj-accordion></mj-column></mj-section>",
    ),
    ("mj-navbar", "<mj-section><mj-column>{}</mj-column></mj-section>"),
    ("mj-social", "<mj-section><mj-column>{}</mj-column></mj-section>"),
    ("mj-carousel", "<mj-section><mj-column>{}</mj-column></mj-section>"),
    ("mj-table", "<mj-section><mj-column>{}</mj-column></mj-section>"),
    ("mj-text", "<mj-section><mj-column>{}</mj-column></mj-section>"),
    ("mj-button", "<mj-section><mj-column>{}</mj-column></mj-section>"),
    ("mj-raw", "{}"),
    ("div", "<mj-section><mj-column><mj-text>{}</mj-text></mj-column></mj-section>"),
    ("table", "<mj-raw>{}</mj-raw>"),
]


def _mjml_loop_nesting(tag: str, around: str, depth: int = 3000) -> str:
    nested = (
        f"{{% for i in range({depth}) %}}<{tag}>{{% endfor %}}x"
        f"{{% for i in range({depth}) %}}</{tag}>{{% endfor %}}"
    )
    return f"<mjml><mj-body>{around.format(nested)}</mj-body></mjml>"


def _mjml_static_nesting(tag: str, around: str, depth: int = 3000) -> str:
    nested = f"<{tag}>" * depth + "x" + f"</{tag}>" * depth
    return f"<mjml><mj-body>{around.format(nested)}</mj-body></mjml>"


def _html(body: str) -> dict[str, Any]:
    return {"subject": "Hi", "body": body, "body_format": "html"}


def _mjml(body: str) -> dict[str, Any]:
    return {"subject": "Hi", "body": body, "body_format": "mjml"}


_DAG = "{% set n = namespace(s=['abc']) %}{% for i in range(40) %}{% set n.s = BUILD %}{% endfor %}"

_JINJA: list[tuple[str, str, str]] = [
    (
        "list-doubling",
        "{% set n = namespace(s=[1]) %}{% for i in range(40) %}{% set n.s = n.s + n.s %}"
        "{% endfor %}{{ n.s|length }}",
        "list + list doubled 40 times (grew a process to 22 GB)",
    ),
    (
        "tuple-doubling",
        "{% set n = namespace(s=(1,)) %}{% for i in range(40) %}{% set n.s = n.s + n.s %}"
        "{% endfor %}{{ n.s|length }}",
        "tuple + tuple doubled",
    ),
    (
        "string-doubling-plus",
        "{% set n = namespace(s='ab') %}{% for i in range(64) %}{% set n.s = n.s + n.s %}"
        "{% endfor %}{{ n.s|length }}",
        "str + str doubled",
    ),
    (
        "string-doubling-tilde",
        "{% set n = namespace(s='ab') %}{% for i in range(64) %}{% set n.s = n.s ~ n.s %}"
        "{% endfor %}{{ n.s|length }}",
        "str ~ str doubled",
    ),
    (
        "string-accumulating",
        "{% set n = namespace(s='') %}{% for i in range(100000) %}"
        "{% set n.s = n.s ~ ('x' * 1000) %}{% endfor %}{{ n.s|length }}",
        "{% set %} appending to a string in a loop",
    ),
    (
        "list-literal-dag",
        _DAG.replace("BUILD", "[n.s, n.s]") + "{{ n.s|length }}",
        "a list literal holding a list twice: tiny in memory, exponential to print",
    ),
    (
        "tuple-literal-dag",
        _DAG.replace("BUILD", "(n.s, n.s)") + "{{ n.s|unique|list }}",
        "a tuple literal holding a tuple twice, then hashed by unique",
    ),
    (
        "dict-literal-dag",
        _DAG.replace("BUILD", "{'a': n.s, 'b': n.s}") + "{{ n.s|tojson }}",
        "a dict literal holding a value twice, then serialised",
    ),
    (
        "dict-call-dag",
        _DAG.replace("BUILD", "dict(a=n.s, b=n.s)") + "{{ n.s|pprint }}",
        "dict() holding a value twice, then pretty-printed",
    ),
    ("list-multiply-nested", "{{ [['x' * 1000] * 1000] * 1000 }}", "nested list repetition"),
    (
        "list-sum-concat",
        "{{ ([[1] * 1000] * 1000)|sum(start=[])|length }}",
        "sum over lists concatenates them",
    ),
    ("join-huge", "{{ (['a' * 1000000] * 1000)|join }}", "join of a repeated large string"),
    (
        "list-of-string",
        "{{ ('ab' * 1000000)|list|unique|list|length }}",
        "list of a 2M-character string",
    ),
    ("range-list-repeat", "{{ (range(100000)|list) * 2 }}", "list repetition past the item bound"),
    (
        "map-join-repeat",
        "{{ (range(100000)|map('string')|join) * 100 }}",
        "map and join, then repetition",
    ),
    ("indent-growth", "{{ ('a\\n' * 900000)|indent(4) }}", "indent adds to every line"),
    ("format-width", "{{ '{:>999999999}'.format(1) }}", "str.format field width"),
    ("percent-width", "{{ '%999999999d' % 1 }}", "printf-style width"),
    ("format-filter-width", "{{ '%999999999s'|format('x') }}", "format filter width"),
    ("ljust", "{{ 'a'.ljust(10**9) }}", "str method width"),
    (
        "translate-growth",
        "{{ ('a' * 1000000).translate({97: 'b' * 1000}) }}",
        "str.translate to long strings",
    ),
    ("bytes-repeat", "{{ 'x'.encode() * 10**9 }}", "bytes repetition"),
    ("int-to-bytes", "{{ (1).to_bytes(10**9, 'big') }}", "int.to_bytes length"),
    ("bigint-power-tower", "{{ ((9**4096)**64)**64 > 1 }}", "froze a process for 17 s"),
    ("bigint-power", "{{ 10 ** 100000 }}", "int ** int past the bit bound"),
    (
        "bigint-squaring",
        "{% set n = namespace(x=9**1000) %}{% for i in range(40) %}"
        "{% set n.x = n.x * n.x %}{% endfor %}{{ n.x > 1 }}",
        "int * int squared in a loop",
    ),
    (
        "loop-cycle-output",
        "{% for i in range(100000) %}{{ loop.cycle('x' * 100000, 'y') }}{% endfor %}",
        "loop.cycle of a long string",
    ),
    (
        "recursive-loop",
        "{% for x in [1, 1] recursive %}{{ loop([x, x]) }}{% endfor %}",
        "a recursive loop that never ends",
    ),
    (
        "macro-recursion",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "a macro calling itself forever",
    ),
    (
        "macro-fanout",
        "{% macro f(n) %}{% if n < 50 %}{{ f(n+1) }}{{ f(n+1) }}{% endif %}"
        "{% endmacro %}{{ f(0) }}",
        "a macro calling itself twice per level",
    ),
    (
        "nested-loops",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "10^10 iterations",
    ),
    ("range-huge", "{{ range(10**9)|list }}", "range past its bound"),
    (
        "huge-literal-output",
        "{% set s = '" + "x" * 1_100_000 + "' %}{{ s }}{{ s }}",
        "a 1.1M-character literal printed twice, over the output size",
    ),
    ("syntax-too-many-tokens", "{{ [" + "1," * 20000 + "1] }}", "a 20,000-element list literal"),
    (
        "syntax-deep-brackets",
        "{{ " + "[" * 3000 + "]" * 3000 + " }}",
        "brackets nested past the parser's recursion",
    ),
    ("syntax-deep-unary", "{{ " + "-" * 3000 + "1 }}", "unary minus nested 3,000 times"),
    (
        "syntax-deep-blocks",
        "{% for i in [1] %}" * 200 + "{% endfor %}" * 200,
        "200 nested loops (Python allows 20)",
    ),
    ("internals-method", "{{ code.code.upper }}", "a str method printed"),
    ("internals-dict-method", "{{ customer.items }}", "a dict method printed"),
    ("internals-view", "{{ customer.items() }}", "a dict view printed"),
    ("internals-global", "{{ cycler }}", "a Jinja global printed"),
    ("internals-namespace", "{{ namespace(a=1) }}", "a namespace object printed"),
    ("internals-generator", "{{ [1, 2]|map('string') }}", "a generator printed"),
    ("internals-concat", "{{ 'x' ~ code.code.upper }}", "a method joined with ~"),
    ("internals-in-list", "{{ [code.code.upper] }}", "a method inside a printed list"),
    ("internals-percent", "{{ '%s' % code.code.upper }}", "a method formatted with %"),
    ("internals-str-format", "{{ '{}'.format(code.code.upper) }}", "a method given to str.format"),
    (
        "internals-format-map",
        "{{ '{x}'.format_map({'x': code.code.upper}) }}",
        "a method given to str.format_map",
    ),
    ("internals-string-filter", "{{ code.code.upper|string }}", "a method through |string"),
    ("internals-join", "{{ [code.code.upper]|join }}", "a method through |join"),
    ("internals-loop", "{% for i in [1] %}{{ loop }}{% endfor %}", "the loop object printed"),
]

HOSTILE_EMAIL_TEMPLATES: list[Case] = [
    (case_id, _html(body), note) for case_id, body, note in _JINJA
]
HOSTILE_EMAIL_TEMPLATES += [
    (
        f"mjml-{'textloop' if tag in _TEXT_CONTENT else 'loop'}-{tag}",
        _mjml(_mjml_loop_nesting(tag, around)),
        f"{tag} nested 3,000 deep by a loop",
    )
    for tag, around in MJML_CONTAINERS
]
HOSTILE_EMAIL_TEMPLATES += [
    (f"mjml-static-{tag}", _mjml(_mjml_static_nesting(tag, around)), f"{tag} written 3,000 deep")
    for tag, around in MJML_CONTAINERS
]
HOSTILE_EMAIL_TEMPLATES += [
    (
        "mjml-head-attributes",
        _mjml(
            "<mjml><mj-head>{% for i in range(3000) %}<mj-attributes>{% endfor %}"
            "{% for i in range(3000) %}</mj-attributes>{% endfor %}</mj-head>"
            "<mj-body></mj-body></mjml>"
        ),
        "mj-attributes nested in the head",
    ),
    (
        "mjml-many-elements",
        _mjml(
            "<mjml><mj-body><mj-section><mj-column>{% for i in range(100000) %}"
            "<mj-text>x</mj-text>{% endfor %}</mj-column></mj-section></mj-body></mjml>"
        ),
        "100,000 sibling elements (22 MB of HTML for premailer)",
    ),
    (
        "html-static-deep",
        _html("<style>p{color:red}</style>" + "<div>" * 300 + "x" + "</div>" * 300),
        "HTML deeper than lxml keeps (it silently drops the rest)",
    ),
    (
        "subject-bigint",
        {"subject": "{{ 9 ** 100000 }}", "body": "<p>x</p>", "body_format": "html"},
        "a big integer in the subject",
    ),
]

HOSTILE_SMS_TEMPLATES: list[Case] = [
    (case_id, {"body": body}, note)
    for case_id, body, note in _JINJA
    if not case_id.startswith(("huge-literal", "indent"))
]
