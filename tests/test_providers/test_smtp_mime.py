"""The hand-built SMTP message means what the former `EmailMessage` builder's did, once parsed."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.list_unsubscribe import unsubscribe_headers
from providers.message import Message
from providers.smtp_mime import STRUCTURAL_HEADERS, build_mime

from .mime_reference import reference_build_mime
from .samples import email

NOW = datetime(2026, 11, 26, 4, 0, 0, tzinfo=UTC)
SETTINGS: dict[str, Any] = {"from_email": "rewards@example.com", "message_id_domain": "example.com"}
ADDRESS_HEADERS = frozenset({"from", "to", "reply-to", "sender"})
# Address-list values a message may carry, with the (name, address) pairs they mean.
ADDRESS_VALUES = {
    "help@example.com": [("", "help@example.com")],
    "Jörg Müller <help@example.com>": [("Jörg Müller", "help@example.com")],
    "Ops <ops@example.com>, Zoë <zoe@example.com>": [
        ("Ops", "ops@example.com"),
        ("Zoë", "zoe@example.com"),
    ],
}
CUSTOM_NAMES = ("X-Campaign", "X-Entity-Ref-ID", "x-tag")

# Printable ASCII with the address specials, accented Latin, other scripts, an emoji.
header_chars = st.sampled_from(
    [chr(c) for c in range(32, 127)] + list("  \téüßœ€—ÆЖж中文한😀\u00a0")
)
body_chars = st.one_of(header_chars, st.sampled_from(["\n", "\r", "="]))
header_text = st.text(header_chars, max_size=120)
long_word = st.builds(
    lambda c, n: c * n, st.sampled_from(["a", "é", "=", " "]), st.integers(0, 1100)
)
body = st.one_of(
    st.none(),
    st.text(body_chars, max_size=400),
    st.lists(st.one_of(st.text(body_chars, max_size=100), long_word), max_size=4).map("".join),
)
address_value = st.sampled_from(sorted(ADDRESS_VALUES))


@st.composite
def messages(draw: st.DrawFn) -> tuple[Message, dict[str, Any]]:
    text, html = draw(body), draw(body)
    if not (text or html):
        text = "x"
    headers = draw(st.dictionaries(st.sampled_from(CUSTOM_NAMES), header_text, max_size=3))
    if draw(st.booleans()):
        headers["Sender"] = draw(address_value)
    message = Message(
        id=draw(st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True)),
        channel="email",
        to="alice@example.com",
        to_name=draw(st.one_of(st.none(), header_text)),
        from_name=draw(st.one_of(st.none(), header_text)),
        subject=draw(st.one_of(st.none(), header_text, long_word)),
        text=text,
        html=html,
        reply_to=draw(st.one_of(st.none(), address_value)),
        headers=headers,
        marketing=draw(st.booleans()),
        unsubscribe_url=draw(st.sampled_from([None, "https://example.com/u/TOKEN"])),
    )
    options = {
        "from_name": draw(st.one_of(st.none(), header_text)),
        "unsubscribe_mailto": draw(st.sampled_from([None, "unsub@example.com"])),
    }
    return message, options


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def words(value: str) -> str:
    """Whitespace around and within a value collapsed: (un)folding may move it, never its words."""
    return " ".join(value.split())


def intended(message: Message, options: dict[str, Any]) -> dict[str, object]:
    """The headers the message was built from, as a receiver should decode them."""
    sender_name = message.from_name or options["from_name"] or ""
    result: dict[str, object] = {
        "from": [(words(sender_name), SETTINGS["from_email"])],
        "to": [(words(message.to_name or ""), message.to)],
        "subject": words(message.subject or ""),
        "date": format_datetime(NOW),
        "message-id": f"<{message.id}@example.com>",
    }
    if message.reply_to:
        result["reply-to"] = ADDRESS_VALUES[message.reply_to]
    for name, value in unsubscribe_headers(message, mailto=options["unsubscribe_mailto"]).items():
        result[name.lower()] = words(value)
    for name, value in message.headers.items():
        if name.lower() not in STRUCTURAL_HEADERS:
            result[name.lower()] = ADDRESS_VALUES[value] if name == "Sender" else words(value)
    return result


def decoded(message: EmailMessage, names: Iterable[str]) -> dict[str, object]:
    """The named headers as a receiver decodes them, with display names' and values' spaces
    collapsed (RFC 5322 gives them no meaning, and the `email` package did not keep them)."""
    result: dict[str, object] = {}
    for name in names:
        (header,) = message.get_all(name) or []
        if name in ADDRESS_HEADERS:
            result[name] = [(words(a.display_name), a.addr_spec) for a in header.addresses]
        else:
            result[name] = words(str(header))
    return result


def parts(message: EmailMessage) -> list[tuple[str, str | None, str]]:
    """Each leaf's content type, charset and decoded text; and the top content type."""
    leaves = list(message.walk())[1:] if message.is_multipart() else [message]
    return [(message.get_content_type(), None, "")] + [
        (leaf.get_content_type(), leaf.get_content_charset(), leaf.get_content()) for leaf in leaves
    ]


def assert_wire_clean(data: bytes) -> None:
    """7-bit, CRLF only, no line over RFC 5322's 998 octets."""
    assert data.isascii()
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")
    assert not any(b"\r" in line or b"\n" in line for line in lines)
    assert max(map(len, lines)) <= 998


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_the_new_message_means_what_the_email_package_built(
    case: tuple[Message, dict[str, Any]],
) -> None:
    message, options = case
    expected = parsed(reference_build_mime(message, **SETTINGS, **options, now=NOW).as_bytes())
    built = build_mime(message, **SETTINGS, **options, now=NOW)
    actual = parsed(built.data)

    assert_wire_clean(built.data)
    assert parts(actual) == parts(expected)
    want = intended(message, options)
    assert decoded(actual, want) == want
    # The former builder agrees but on addresses: it lost the address when a non-ASCII
    # display name also held a special such as ")" (From: <>); and it folded a long word
    # onto a line of its own, which added a leading space to the value.
    text_headers = [name for name in want if name not in ADDRESS_HEADERS]
    assert decoded(actual, text_headers) == decoded(expected, text_headers)
    assert built.message_id == want["message-id"]


def test_a_bulk_invite_reads_as_before() -> None:
    message = email(
        to_name="Jörg Müller, Jr.",
        subject="Jörg, give 10 € and get 10 €: a gift for your friends — valid until Friday",
        html="<p>" + "Grüße " * 300 + "</p>",
        marketing=True,
        unsubscribe_url="https://example.com/u/" + "T" * 60,
        headers={"X-Campaign": "spring", "Content-Type": "text/evil"},
    )
    options = {"from_name": "Acme", "unsubscribe_mailto": "unsub@example.com"}
    built = build_mime(message, **SETTINGS, **options, now=NOW)
    expected = parsed(reference_build_mime(message, **SETTINGS, **options, now=NOW).as_bytes())
    actual = parsed(built.data)

    assert_wire_clean(built.data)
    assert parts(actual) == parts(expected)
    want = intended(message, options)
    assert decoded(actual, want) == decoded(expected, want) == want
    assert actual["To"].addresses[0].display_name == "Jörg Müller, Jr."
    assert actual["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The template's Content-Type is dropped: we set that one ourselves.
    assert len(actual.get_all("Content-Type") or []) == 1


def test_an_unsafe_delivery_id_gets_a_generated_message_id() -> None:
    built = build_mime(email(id="a b<c>"), **SETTINGS)
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", built.message_id)
    assert parsed(built.data)["Message-ID"] == built.message_id


def test_a_boundary_found_in_a_body_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = iter(["0" * 32, "1" * 32])
    monkeypatch.setattr(secrets, "token_hex", lambda _size: next(tokens))
    text = f"a line that looks like the boundary:\n--=_{'0' * 32}\n"
    built = build_mime(email(text=text), **SETTINGS)

    message = parsed(built.data)
    assert message.get_boundary() == "=_" + "1" * 32
    plain, _html = message.iter_parts()
    assert plain.get_content() == text.replace("\n", "\r\n")


LINE_BREAKS = ["a\r\nBcc: victim@example.net", "a\nBcc: x@example.net", "a\rb", "\n", "a\u2028b"]


@pytest.mark.parametrize("value", LINE_BREAKS)
@pytest.mark.parametrize(
    "field", ["subject", "to_name", "from_name", "to", "from_email", "reply_to", "header"]
)
def test_a_line_break_in_any_header_value_is_refused(field: str, value: str) -> None:
    if field == "header":
        message = email(headers={"X-Campaign": value})
    elif field in ("to", "from_email"):
        message = email(**{field: f"alice{value}@example.com"})
    else:
        message = email(**{field: value})
    with pytest.raises(ValueError):
        build_mime(message, **SETTINGS)


@pytest.mark.parametrize("name", ["X-A\r\nBcc", "X A", "X-A:", "", "Ä"])
def test_a_malformed_header_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="header name"):
        build_mime(email(headers={name: "v"}), **SETTINGS)


def test_a_non_ascii_address_is_refused() -> None:
    with pytest.raises(ValueError):
        build_mime(email(to="jörg@example.com"), **SETTINGS)
