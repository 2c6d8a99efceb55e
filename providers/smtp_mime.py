"""The RFC 5322 bytes of one email, written directly rather than through the `email` package.

`email.message.EmailMessage` with `policy.SMTP` parsed every header we gave it through
`email.headerregistry` and folded it again when serialised: ~4.5 ms of CPU per bulk message, most
of the SMTP provider's cost. The values here are few and known, so they are written as they go
on the wire instead, with the stdlib's C encoders (`binascii`) for bodies and encoded words:

- headers are folded at spaces to 78 characters; a value with non-ASCII characters (an
  unstructured one, or a display name) becomes RFC 2047 base64 encoded words of whole characters;
- a body that is ASCII with lines of at most 998 octets goes as 7bit; any other as
  quoted-printable, or base64 when that is shorter (mostly non-Latin text), so every message is
  7-bit clean and needs no 8BITMIME from the relay;
- text line breaks are CRLF, the canonical form, as the `email` package wrote them.

`tests/test_providers/test_smtp_mime.py` checks that the result parses to the same headers and
parts as the former `EmailMessage` builder.
"""

from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr, getaddresses, make_msgid

import idna

from providers.list_unsubscribe import unsubscribe_headers
from providers.message import Message

__all__ = ["SAFE_ID", "STRUCTURAL_HEADERS", "MimeMessage", "build_mime", "idna_address"]

# Headers we set ourselves; a template may not override them through Message.headers.
STRUCTURAL_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "reply-to",
        "list-unsubscribe",
        "list-unsubscribe-post",
    }
)
SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Custom headers whose value is a list of addresses: only their display names may be encoded.
_ADDRESS_HEADERS = frozenset(
    {"sender", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc"}
)
# Every character str.splitlines() breaks at: the `email` package refused values holding one.
_LINE_BREAK = re.compile("[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# RFC 5322 field name: printable ASCII but the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")
_FOLD_AT = 78  # RFC 5322 SHOULD
_LINE_LIMIT = 998  # RFC 5322 MUST, octets without the CRLF
# Folding happens at a space before a word: a longer word or run of spaces cannot fit a line.
_UNFOLDABLE = re.compile("[^ ]{900,}| {900,}")
# 42 UTF-8 bytes are 56 base64 characters: an encoded word of 68, under RFC 2047's 75.
_WORD_BYTES = 42
# A display name's single encoded word, its address and "Reply-To: " stay under 998 octets.
_NAME_BYTES = 500
# Formats a display name for an address `formataddr` refuses (non-ASCII, under SMTPUTF8).
_STAND_IN = "a@a"


def idna_address(address: str, role: str = "address") -> str:
    """The address with its domain in IDNA A-labels (`zoe@bücher.example` ->
    `zoe@xn--bcher-kva.example`), as SMTP and ASCII headers carry it; the local part as it is.

    Raises:
        ValueError: the address has no `@`, or its domain is not a valid IDNA name. The message
            names the `role` ("recipient", "sender") but never the address: it ends up in a
            delivery's last error, which outlives the erasure of a customer's data.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"the {role} is not an email address")
    if domain.isascii():
        return address
    try:
        # UTS 46 mapping first, as browsers and mail clients do (case, width, dots).
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise ValueError(f"the {role}'s domain is not a valid IDNA name") from None
    return f"{local}@{encoded}"


@dataclass(frozen=True, slots=True)
class MimeMessage:
    """A built email: `data` is what goes after DATA; `message_id` is its Message-ID header."""

    data: bytes
    message_id: str


def build_mime(
    message: Message,
    *,
    from_email: str,
    from_name: str | None = None,
    reply_to: str | None = None,
    message_id_domain: str,
    unsubscribe_mailto: str | None = None,
    now: datetime | None = None,
    utf8: bool = False,
) -> MimeMessage:
    """Build the RFC 5322 message: text then HTML in multipart/alternative, and the headers.

    `utf8`: the message goes with SMTPUTF8, so the From and To addresses may have non-ASCII
    local parts, written in UTF-8 as RFC 6532 allows. Domains should be A-labels already
    (`idna_address`).

    Raises:
        ValueError: a header name or value is malformed (e.g. a value contains a line break), a
            body is not encodable as UTF-8, or an address is not ASCII (without `utf8`).
    """
    sender = message.from_email or from_email
    # A stable Message-ID per delivery lets receivers drop a duplicate from a retried send.
    if SAFE_ID.match(message.id):
        message_id = f"<{message.id}@{message_id_domain}>"
    else:
        message_id = make_msgid(domain=message_id_domain)
    lines = [
        _field("From", _address(message.from_name or from_name, sender, utf8=utf8)),
        _field("To", _address(message.to_name, message.to, utf8=utf8)),
        _field("Subject", _unstructured(message.subject or "")),
        _field("Date", format_datetime(now or datetime.now(UTC))),
        _field("Message-ID", message_id),
    ]
    if message.reply_to or reply_to:
        lines.append(_field("Reply-To", _addresses(message.reply_to or reply_to or "")))
    for name, value in unsubscribe_headers(message, mailto=unsubscribe_mailto).items():
        lines.append(_field(name, _unstructured(value)))
    for name, value in message.headers.items():
        if name.lower() in STRUCTURAL_HEADERS:
            continue
        if not _FIELD_NAME.match(name):
            raise ValueError(f"invalid header name {name!r}")
        is_address = name.lower() in _ADDRESS_HEADERS
        lines.append(_field(name, _addresses(value) if is_address else _unstructured(value)))
    lines.append("MIME-Version: 1.0\r\n")
    head = "".join(lines).encode("utf-8" if utf8 else "ascii")
    if message.text and message.html:
        return MimeMessage(head + _alternative(message.text, message.html), message_id)
    if message.html:
        return MimeMessage(head + _text_part(message.html, "html"), message_id)
    return MimeMessage(head + _text_part(message.text or "", "plain"), message_id)


def _field(name: str, value: str) -> str:
    """`Name: value` and its CRLF, folded at spaces; `value` is ASCII by now."""
    line = f"{name}: {value}\r\n"
    if len(line) <= _FOLD_AT + 2:
        return line
    folded = []
    width = len(name) + 1
    for word in value.split(" "):
        # Break only before a non-empty word: a folded line of nothing but spaces is invalid.
        if word and width > len(name) + 1 and width + 1 + len(word) > _FOLD_AT:
            folded.append("\r\n ")
            width = 1
        else:
            folded.append(" ")
            width += 1
        folded.append(word)
        width += len(word)
    text = "".join(folded)
    if max(map(len, text.split("\r\n"))) + len(name) + 1 > _LINE_LIMIT:
        raise ValueError(f"header {name} has a word too long for one line")
    return f"{name}:{text}\r\n"


def _check(value: str) -> None:
    if _LINE_BREAK.search(value):
        raise ValueError("Header values may not contain linefeed or carriage return characters")


def _unstructured(value: str) -> str:
    """A free-text value, as RFC 2047 encoded words when it is not plain printable ASCII."""
    _check(value)
    if value.isascii() and not _UNFOLDABLE.search(value):
        return value
    return _encoded_words(value)


def _encoded_words(text: str, word_bytes: int = _WORD_BYTES) -> str:
    """`=?utf-8?b?…?=` words of whole characters, separated by spaces (folding points)."""
    data = text.encode("utf-8")
    words = []
    start = 0
    while start < len(data):
        end = min(start + word_bytes, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character
            end -= 1
        words.append(f"=?utf-8?b?{binascii.b2a_base64(data[start:end], newline=False).decode()}?=")
        start = end
    return " ".join(words)


def _address(name: str | None, address: str, *, utf8: bool = False) -> str:
    """`Name <address>`, the name quoted when it has specials or encoded when not ASCII.

    A non-ASCII address is written as it is with `utf8` (RFC 6532), else refused.
    """
    _check(address)
    if utf8 and not address.isascii():
        formatted = _address(name, _STAND_IN)
        at = formatted.rindex(_STAND_IN)  # the address comes last, after any quoted name
        return formatted[:at] + address + formatted[at + len(_STAND_IN) :]
    if not name:
        return formataddr(("", address))
    _check(name)
    if name.isascii():
        return formataddr((name, address))
    address.encode("ascii")  # UnicodeEncodeError, a ValueError, as formataddr raises
    # One word, however long (as formataddr writes it): Python's parser, unlike RFC 2047, keeps
    # the space between two encoded words of a display name.
    return f"{_encoded_words(name, _NAME_BYTES)} <{address}>"


def _addresses(value: str) -> str:
    """An address list given as text: as it is when ASCII, else its display names encoded."""
    _check(value)
    if value.isascii():
        return value
    return ", ".join(_address(name, address) for name, address in getaddresses([value]))


def _alternative(text: str, html: str) -> bytes:
    parts = (_text_part(text, "plain"), _text_part(html, "html"))
    boundary = f"=_{secrets.token_hex(16)}".encode("ascii")
    # Encoded parts cannot hold "=_" at a line start; a 7bit part could, however unlikely.
    while any(b"--" + boundary in part for part in parts):
        boundary = f"=_{secrets.token_hex(16)}".encode("ascii")
    return b"".join(
        (
            b'Content-Type: multipart/alternative;\r\n boundary="%s"\r\n\r\n' % boundary,
            *(b"--%s\r\n%s\r\n" % (boundary, part) for part in parts),
            b"--%s--\r\n" % boundary,
        )
    )


def _text_part(content: str, subtype: str) -> bytes:
    """Content-Type, Content-Transfer-Encoding, blank line and the encoded body (CRLF lines)."""
    lines = content.encode("utf-8").splitlines()
    body = b"\r\n".join(lines) + b"\r\n"
    if body.isascii() and max(map(len, lines), default=0) <= _LINE_LIMIT:
        encoding = b"7bit"
    else:
        quoted = binascii.b2a_qp(body, istext=True)
        # base64 grows 4/3 plus a CRLF per 76 characters; qp triples every non-ASCII octet.
        if len(quoted) <= (len(body) + 2) // 3 * 4 * 78 // 76:
            encoding, body = b"quoted-printable", quoted
        else:
            encoding, body = b"base64", _base64_lines(body)
    return b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: %s\r\n\r\n%s' % (
        subtype.encode("ascii"),
        encoding,
        body,
    )


def _base64_lines(data: bytes) -> bytes:
    """base64 in lines of 76 characters (57 octets), CRLF-terminated (RFC 2045 6.8)."""
    return b"".join(
        binascii.b2a_base64(data[start : start + 57], newline=False) + b"\r\n"
        for start in range(0, len(data), 57)
    )
