"""The address guard: host spellings as the resolver reads them, and connections that go only to
the addresses it vetted (HTTP and SMTP), whatever the name resolves to later."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.address_guard import AddressGuard, DestinationRefusedError, normalised_host
from providers.errors import PermanentProviderError
from providers.http_transport import guarded_client
from providers.smtp import SmtpConfig, SmtpProvider

from .conftest import SmtpServerHandle
from .fakes.webhook_receiver import FakeReceiver
from .samples import email

NAME = "api.rebound.example.com"


def resolving(answers: dict[str, list[str]]) -> AddressGuard:
    """A guard whose resolver answers from `answers` (what a DNS server controlled by the
    person configuring the destination could say)."""

    async def resolver(host: str, port: int) -> list[str]:
        try:
            return answers[host]
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, "not known") from None

    return AddressGuard(resolver=resolver)


def allowing(guard: AddressGuard) -> AddressGuard:
    return AddressGuard(allow_private=True, resolver=guard.resolver)


@given(st.text(alphabet="0123456789abcdefxX.", min_size=1, max_size=20))
def test_numeric_hosts_read_as_the_c_library_reads_them(text: str) -> None:
    # A final dot makes the resolver try DNS instead; the guard reads it as absent, which can
    # only refuse more.
    try:
        expected: ipaddress.IPv4Address | None = ipaddress.IPv4Address(
            socket.inet_aton(text.removesuffix("."))
        )
    except OSError:
        expected = None
    try:
        parsed = normalised_host(text)
    except ValueError:
        parsed = None
    if expected is not None:
        assert parsed == expected
    else:
        assert not isinstance(parsed, ipaddress.IPv4Address)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("[2002:7f00:1::]", "loopback address (6to4)"),
        ("[2002:a9fe:a9fe::]", "cloud metadata address (6to4)"),
        ("[::ffff:7f00:1]", "loopback address (IPv4-mapped)"),
        ("[::7f00:1]", "loopback address (IPv4-compatible)"),
        ("[64:ff9b::a00:1]", "private address (NAT64)"),
        ("[64:ff9b:1::808:808]", "NAT64 local-use address"),
        ("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", "private address (Teredo)"),
        ("LocalHost.", "loopback name"),
        ("db", "internal host name"),
        ("printer.local", "internal host name"),
        ("metadata.google.internal.", "internal host name"),
    ],
)
def test_embedded_and_internal_forms_are_refused_with_their_reason(host: str, reason: str) -> None:
    assert (
        AddressGuard().refusal(host)
        == f"must not point at {'an' if reason[0] in 'aeiou' else 'a'} {reason}"
    )


@pytest.mark.parametrize(
    "host", ["[64:ff9b::808:808]", "[2002:808:808::]", "8.8.8.8", "api.twilio.com"]
)
def test_public_forms_pass(host: str) -> None:
    assert AddressGuard().refusal(host) is None


async def test_every_resolved_address_must_be_public() -> None:
    guard = resolving({NAME: ["93.184.215.14", "10.1.2.3"]})
    with pytest.raises(DestinationRefusedError, match="private address"):
        await guard.resolve(NAME, 443)


async def test_http_connects_to_the_vetted_address_and_keeps_the_host_header(
    webhook_receiver: tuple[FakeReceiver, str],
) -> None:
    api, url = webhook_receiver
    port = urlsplit(url).port
    guard = resolving({NAME: ["127.0.0.1"]})
    async with guarded_client(guard) as client:
        with pytest.raises(DestinationRefusedError, match="resolves to a loopback address"):
            await client.post(f"http://{NAME}:{port}/hooks/messages", content=b"{}")
    assert api.requests == []
    # With the operator's setting the same name is reached, at the address the guard resolved.
    async with guarded_client(allowing(guard)) as client:
        await client.post(f"http://{NAME}:{port}/hooks/messages", content=b"{}")
    assert [r.headers["host"] for r in api.requests] == [f"{NAME}:{port}"]


async def test_smtp_connects_only_to_a_vetted_address(plain_smtp: SmtpServerHandle) -> None:
    guard = resolving({NAME: [plain_smtp.host]})
    config = SmtpConfig(
        host=NAME,
        port=plain_smtp.port,
        security="none",
        from_email="rewards@example.com",
        timeout=5.0,
    )
    refused = SmtpProvider("mail", config, guard=guard)
    with pytest.raises(PermanentProviderError, match="resolves to a loopback address"):
        await refused.send(email())
    with pytest.raises(PermanentProviderError, match="resolves to a loopback address"):
        await refused.check()
    await refused.aclose()
    assert plain_smtp.handler.received == []
    allowed = SmtpProvider("mail", config, guard=allowing(guard))
    result = await allowed.send(email())
    await allowed.aclose()
    assert result.status == "sent"
    assert len(plain_smtp.handler.received) == 1
