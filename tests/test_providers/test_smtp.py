"""The smtp provider against real aiosmtpd servers (plain, STARTTLS, implicit TLS)."""

from __future__ import annotations

import asyncio
import re
from email.utils import parsedate_to_datetime

import pytest

from providers.address_guard import AddressGuard
from providers.errors import PermanentProviderError, TransientProviderError
from providers.message import Message, SendResult
from providers.smtp import SmtpConfig, SmtpProvider

from .conftest import SmtpServerHandle
from .fakes.smtp_server import PASSWORD, USERNAME, free_port
from .samples import email, sms

# The test servers listen on this machine, as the operator's setting allows.
LOCAL = AddressGuard(allow_private=True)


def tls_config(server: SmtpServerHandle, ca_pem: str, **overrides: object) -> SmtpConfig:
    values: dict[str, object] = {
        "host": "localhost",
        "port": server.port,
        "security": "starttls",
        "username": USERNAME,
        "password": PASSWORD,
        "from_email": "rewards@example.com",
        "from_name": "Acme Rewards",
        "reply_to": "help@example.com",
        "ca_cert_pem": ca_pem,
        "pool_size": 2,
        "timeout": 5.0,
    }
    values.update(overrides)
    return SmtpConfig(**values)  # type: ignore[arg-type]


def plain_config(server: SmtpServerHandle, **overrides: object) -> SmtpConfig:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "from_email": "rewards@example.com",
        "pool_size": 1,
        "timeout": 5.0,
    }
    values.update(overrides)
    return SmtpConfig(**values)  # type: ignore[arg-type]


async def send_once(server: SmtpServerHandle, message: Message) -> SendResult:
    """Send one message through a provider of its own to the plain server ``server``."""
    provider = SmtpProvider("mail", plain_config(server), guard=LOCAL)
    try:
        return await provider.send(message)
    finally:
        await provider.aclose()


async def test_starttls_auth_sends_multipart_with_headers(
    starttls_smtp: SmtpServerHandle, ca_pem: str
) -> None:
    provider = SmtpProvider("mail", tls_config(starttls_smtp, ca_pem), guard=LOCAL)
    try:
        result = await provider.send(email(id="dlv_abc"))
    finally:
        await provider.aclose()

    assert result.status == "sent"
    assert result.provider_message_id == "<dlv_abc@example.com>"
    (received,) = starttls_smtp.handler.received
    assert received.mail_from == "rewards@example.com"
    assert received.rcpt_tos == ["alice@example.com"]
    msg = received.message
    assert msg["From"] == "Acme Rewards <rewards@example.com>"
    assert msg["To"] == "Alice Example <alice@example.com>"
    assert msg["Reply-To"] == "help@example.com"
    assert msg["Subject"] == "Your code: WELCOME-42"
    assert msg["Message-ID"] == "<dlv_abc@example.com>"
    assert re.search(r"\+0000$", msg["Date"])
    assert parsedate_to_datetime(msg["Date"]).utcoffset() is not None
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().strip() == "Hi Alice, your code is WELCOME-42"
    assert "<b>WELCOME-42</b>" in parts[1].get_content()
    assert msg["List-Unsubscribe"] is None


# aiosmtpd does not count implicit TLS as TLS for its AUTH check and warns; the socket is TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_with_auth(implicit_tls_smtp: SmtpServerHandle, ca_pem: str) -> None:
    provider = SmtpProvider(
        "mail", tls_config(implicit_tls_smtp, ca_pem, security="tls"), guard=LOCAL
    )
    try:
        result = await provider.send(email())
        await provider.check()
    finally:
        await provider.aclose()
    assert result.status == "sent"
    assert len(implicit_tls_smtp.handler.received) == 1


async def test_marketing_mail_has_one_click_unsubscribe(
    plain_smtp: SmtpServerHandle,
) -> None:
    config = plain_config(plain_smtp, unsubscribe_mailto="unsub@example.com")
    provider = SmtpProvider("mail", config, guard=LOCAL)
    message = email(marketing=True, unsubscribe_url="https://example.com/u/TOKEN")
    try:
        await provider.send(message)
    finally:
        await provider.aclose()
    msg = plain_smtp.handler.received[0].message
    assert msg["List-Unsubscribe"] == (
        "<https://example.com/u/TOKEN>, <mailto:unsub@example.com?subject=unsubscribe%20dlv_1>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_an_http_unsubscribe_link_gets_no_one_click_header(
    plain_smtp: SmtpServerHandle,
) -> None:
    """RFC 8058 one-click needs an HTTPS URI: an http link is listed, but not as one-click."""
    await send_once(plain_smtp, email(marketing=True, unsubscribe_url="http://dm.internal/u/T"))
    msg = plain_smtp.handler.received[0].message
    assert msg["List-Unsubscribe"] == "<http://dm.internal/u/T>"
    assert msg["List-Unsubscribe-Post"] is None


async def test_an_internationalised_domain_goes_as_idna(plain_smtp: SmtpServerHandle) -> None:
    """`zoe@bücher.example` (as the customers API accepts it) needs no SMTPUTF8: A-labels."""
    result = await send_once(plain_smtp, email(to="zoe@bücher.example", to_name="Zoë"))
    assert result.status == "sent"
    (received,) = plain_smtp.handler.received
    assert received.rcpt_tos == ["zoe@xn--bcher-kva.example"]
    assert "SMTPUTF8" not in received.mail_options
    assert received.message["To"] == "Zoë <zoe@xn--bcher-kva.example>"


async def test_a_non_ascii_local_part_goes_with_smtputf8(utf8_smtp: SmtpServerHandle) -> None:
    result = await send_once(utf8_smtp, email(to="zoé@bücher.example", to_name="Zoé"))
    assert result.status == "sent"
    (received,) = utf8_smtp.handler.received
    assert received.rcpt_tos == ["zoé@xn--bcher-kva.example"]
    assert "SMTPUTF8" in received.mail_options
    # RFC 6532: the address is UTF-8 in the header; the display name stays an encoded word.
    assert "<zoé@xn--bcher-kva.example>\r\n".encode() in received.content
    assert received.message["To"].addresses[0].display_name == "Zoé"


async def test_a_non_ascii_local_part_without_smtputf8_fails_saying_why(
    plain_smtp: SmtpServerHandle,
) -> None:
    provider = SmtpProvider("mail", plain_config(plain_smtp), guard=LOCAL)
    try:
        with pytest.raises(PermanentProviderError, match="needs SMTPUTF8") as info:
            await provider.send(email(to="zoé@example.com"))
        # Nothing went out on that connection: it serves the next message.
        await provider.send(email(to="zoe@example.com"))
    finally:
        await provider.aclose()
    assert "ascii" not in str(info.value)
    assert [r.rcpt_tos for r in plain_smtp.handler.received] == [["zoe@example.com"]]
    assert provider.pool.connections_opened == 1


async def test_an_invalid_internationalised_domain_is_permanent(
    plain_smtp: SmtpServerHandle,
) -> None:
    with pytest.raises(PermanentProviderError, match="recipient's domain is not a valid IDNA") as e:
        await send_once(plain_smtp, email(to="zoe@-bücher-.example"))
    assert "zoe" not in str(e.value)  # the error outlives an erasure of the customer's data
    assert plain_smtp.handler.received == []


def test_a_from_address_whose_domain_cannot_be_encoded_is_refused(
    plain_smtp: SmtpServerHandle,
) -> None:
    with pytest.raises(ValueError, match="from_email's domain is not a valid IDNA name"):
        plain_config(plain_smtp, from_email="rewards@-bücher-.example")


async def test_custom_headers_cannot_override_structural_ones(
    plain_smtp: SmtpServerHandle,
) -> None:
    provider = SmtpProvider("mail", plain_config(plain_smtp), guard=LOCAL)
    message = email(headers={"X-Campaign": "spring", "From": "evil@example.net"})
    try:
        await provider.send(message)
    finally:
        await provider.aclose()
    msg = plain_smtp.handler.received[0].message
    assert msg["X-Campaign"] == "spring"
    assert msg.get_all("From") == ["rewards@example.com"]


async def test_header_injection_is_permanent(plain_smtp: SmtpServerHandle) -> None:
    provider = SmtpProvider("mail", plain_config(plain_smtp), guard=LOCAL)
    try:
        with pytest.raises(PermanentProviderError):
            await provider.send(email(headers={"X-Campaign": "a\r\nBcc: victim@example.net"}))
    finally:
        await provider.aclose()
    assert plain_smtp.handler.received == []


async def test_pool_of_two_opens_at_most_two_connections_for_fifty_messages(
    starttls_smtp: SmtpServerHandle, ca_pem: str
) -> None:
    provider = SmtpProvider("mail", tls_config(starttls_smtp, ca_pem, pool_size=2), guard=LOCAL)
    try:
        results = await asyncio.gather(
            *(provider.send(email(id=f"dlv_{i}", to=f"user{i}@example.com")) for i in range(50))
        )
    finally:
        await provider.aclose()
    assert all(r.status == "sent" for r in results)
    assert len(starttls_smtp.handler.received) == 50
    assert 1 <= starttls_smtp.handler.connections <= 2
    assert provider.pool.connections_opened <= 2


async def test_recipient_4xx_is_transient_and_connection_is_reused(
    plain_smtp: SmtpServerHandle,
) -> None:
    plain_smtp.handler.rcpt_replies["temp@example.com"] = "451 4.3.0 Try again later"
    provider = SmtpProvider("mail", plain_config(plain_smtp), guard=LOCAL)
    try:
        with pytest.raises(TransientProviderError) as info:
            await provider.send(email(to="temp@example.com"))
        await provider.send(email(to="ok@example.com"))
    finally:
        await provider.aclose()
    assert info.value.status_code == 451
    assert "Try again later" in info.value.excerpt
    assert plain_smtp.handler.connections == 1
    assert [r.rcpt_tos for r in plain_smtp.handler.received] == [["ok@example.com"]]


async def test_recipient_5xx_is_permanent(plain_smtp: SmtpServerHandle) -> None:
    plain_smtp.handler.rcpt_replies["bad@example.com"] = "550 5.1.1 User unknown"
    provider = SmtpProvider("mail", plain_config(plain_smtp), guard=LOCAL)
    try:
        with pytest.raises(PermanentProviderError) as info:
            await provider.send(email(to="bad@example.com"))
    finally:
        await provider.aclose()
    assert info.value.status_code == 550
    assert plain_smtp.handler.received == []


async def test_421_drops_the_connection_and_is_transient(plain_smtp: SmtpServerHandle) -> None:
    plain_smtp.handler.rcpt_replies["busy@example.com"] = "421 4.3.2 Service shutting down"
    provider = SmtpProvider("mail", plain_config(plain_smtp), guard=LOCAL)
    try:
        with pytest.raises(TransientProviderError) as info:
            await provider.send(email(to="busy@example.com"))
        await provider.send(email(to="ok@example.com"))
    finally:
        await provider.aclose()
    assert info.value.status_code == 421
    assert provider.pool.connections_opened == 2


async def test_wrong_password_is_permanent(starttls_smtp: SmtpServerHandle, ca_pem: str) -> None:
    provider = SmtpProvider(
        "mail", tls_config(starttls_smtp, ca_pem, password="wrong-password"), guard=LOCAL
    )
    try:
        with pytest.raises(PermanentProviderError) as info:
            await provider.send(email())
    finally:
        await provider.aclose()
    assert info.value.status_code == 535
    assert "wrong-password" not in str(info.value)


async def test_untrusted_certificate_is_refused(starttls_smtp: SmtpServerHandle) -> None:
    provider = SmtpProvider("mail", tls_config(starttls_smtp, ca_pem=""), guard=LOCAL)
    try:
        with pytest.raises(PermanentProviderError, match="certificate"):
            await provider.send(email())
    finally:
        await provider.aclose()
    assert starttls_smtp.handler.received == []


async def test_unreachable_server_is_transient() -> None:
    config = SmtpConfig(
        host="127.0.0.1", port=free_port(), security="none", from_email="a@example.com"
    )
    provider = SmtpProvider("mail", config, guard=LOCAL)
    try:
        with pytest.raises(TransientProviderError):
            await provider.send(email())
    finally:
        await provider.aclose()


async def test_sms_is_refused(plain_smtp: SmtpServerHandle) -> None:
    provider = SmtpProvider("mail", plain_config(plain_smtp), guard=LOCAL)
    with pytest.raises(PermanentProviderError, match="channel"):
        await provider.send(sms())
    await provider.aclose()


def test_password_is_not_in_repr(starttls_smtp: SmtpServerHandle, ca_pem: str) -> None:
    config = tls_config(starttls_smtp, ca_pem)
    assert PASSWORD not in repr(config)
    assert PASSWORD not in repr(config.server())
