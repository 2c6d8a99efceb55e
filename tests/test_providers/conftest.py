"""Fixtures: local fakes of every provider API, real aiosmtpd servers, trustme certificates."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import trustme

from providers.address_guard import AddressGuard
from providers.http_transport import GuardedClient, guarded_client

from .fakes.activecampaign import FakeActiveCampaign
from .fakes.braze import FakeBraze
from .fakes.mailchimp_marketing import FakeMailchimpMarketing
from .fakes.mandrill import FakeMandrill
from .fakes.server import serve
from .fakes.smtp_server import RecordingHandler, start_smtp_server
from .fakes.twilio import FakeTwilio
from .fakes.voucherify import FakeVoucherify
from .fakes.webhook_receiver import FakeReceiver


@dataclass
class Served:
    """A fake API and the base URL it is served on."""

    api: object
    url: str


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(tls_ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def ca_pem(tls_ca: trustme.CA) -> str:
    return tls_ca.cert_pem.bytes().decode()


@dataclass
class SmtpServerHandle:
    handler: RecordingHandler
    host: str
    port: int


def _smtp(handler: RecordingHandler, **kwargs: object) -> Iterator[SmtpServerHandle]:
    controller = start_smtp_server(handler, **kwargs)  # type: ignore[arg-type]
    try:
        yield SmtpServerHandle(handler, "127.0.0.1", controller.port)
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def _plain_smtp() -> Iterator[SmtpServerHandle]:
    yield from _smtp(RecordingHandler())


@pytest.fixture(scope="session")
def _starttls_smtp(server_tls: ssl.SSLContext) -> Iterator[SmtpServerHandle]:
    yield from _smtp(RecordingHandler(), starttls=server_tls, auth=True)


@pytest.fixture(scope="session")
def _implicit_tls_smtp(server_tls: ssl.SSLContext) -> Iterator[SmtpServerHandle]:
    yield from _smtp(RecordingHandler(), implicit_tls=server_tls, auth=True)


@pytest.fixture(scope="session")
def _utf8_smtp() -> Iterator[SmtpServerHandle]:
    yield from _smtp(RecordingHandler(), smtputf8=True)


@pytest.fixture
def utf8_smtp(_utf8_smtp: SmtpServerHandle) -> SmtpServerHandle:
    """aiosmtpd without TLS or AUTH that offers SMTPUTF8."""
    _utf8_smtp.handler.reset()
    return _utf8_smtp


@pytest.fixture
def plain_smtp(_plain_smtp: SmtpServerHandle) -> SmtpServerHandle:
    """aiosmtpd without TLS or AUTH (a local relay)."""
    _plain_smtp.handler.reset()
    return _plain_smtp


@pytest.fixture
def starttls_smtp(_starttls_smtp: SmtpServerHandle) -> SmtpServerHandle:
    """aiosmtpd requiring STARTTLS, then AUTH."""
    _starttls_smtp.handler.reset()
    return _starttls_smtp


@pytest.fixture
def implicit_tls_smtp(_implicit_tls_smtp: SmtpServerHandle) -> SmtpServerHandle:
    """aiosmtpd over implicit TLS, requiring AUTH."""
    _implicit_tls_smtp.handler.reset()
    return _implicit_tls_smtp


@pytest.fixture(scope="session")
def _twilio() -> Iterator[tuple[FakeTwilio, str]]:
    api = FakeTwilio()
    with serve(api) as url:
        yield api, url


@pytest.fixture
def twilio_api(_twilio: tuple[FakeTwilio, str]) -> tuple[FakeTwilio, str]:
    """The fake Twilio and its base URL, reset."""
    _twilio[0].reset()
    return _twilio


@pytest.fixture(scope="session")
def _mandrill() -> Iterator[tuple[FakeMandrill, str]]:
    api = FakeMandrill()
    with serve(api) as url:
        yield api, url + "/api/1.3"


@pytest.fixture
def mandrill_api(_mandrill: tuple[FakeMandrill, str]) -> tuple[FakeMandrill, str]:
    """The fake Mandrill and its API root, reset."""
    _mandrill[0].reset()
    return _mandrill


@pytest.fixture(scope="session")
def _braze() -> Iterator[tuple[FakeBraze, str]]:
    api = FakeBraze()
    with serve(api) as url:
        yield api, url


@pytest.fixture
def braze_api(_braze: tuple[FakeBraze, str]) -> tuple[FakeBraze, str]:
    """The fake Braze REST API and its base URL, reset."""
    _braze[0].reset()
    return _braze


@pytest.fixture(scope="session")
def _receiver() -> Iterator[tuple[FakeReceiver, str]]:
    api = FakeReceiver()
    with serve(api) as url:
        yield api, url + "/hooks/messages"


@pytest.fixture
def webhook_receiver(_receiver: tuple[FakeReceiver, str]) -> tuple[FakeReceiver, str]:
    """A Standard Webhooks receiver and its URL, reset."""
    _receiver[0].reset()
    return _receiver


@pytest.fixture(scope="session")
def _mailchimp_marketing() -> Iterator[tuple[FakeMailchimpMarketing, str]]:
    api = FakeMailchimpMarketing()
    with serve(api) as url:
        yield api, url


@pytest.fixture
def mailchimp_marketing_api(
    _mailchimp_marketing: tuple[FakeMailchimpMarketing, str],
) -> tuple[FakeMailchimpMarketing, str]:
    """The fake Mailchimp Marketing API, reset."""
    _mailchimp_marketing[0].reset()
    return _mailchimp_marketing


@pytest.fixture(scope="session")
def _activecampaign() -> Iterator[tuple[FakeActiveCampaign, str]]:
    api = FakeActiveCampaign()
    with serve(api) as url:
        yield api, url


@pytest.fixture
def activecampaign_api(
    _activecampaign: tuple[FakeActiveCampaign, str],
) -> tuple[FakeActiveCampaign, str]:
    """The fake ActiveCampaign API, reset."""
    _activecampaign[0].reset()
    return _activecampaign


@pytest.fixture(scope="session")
def _voucherify() -> Iterator[tuple[FakeVoucherify, str]]:
    api = FakeVoucherify()
    with serve(api) as url:
        yield api, url


@pytest.fixture
def voucherify_api(_voucherify: tuple[FakeVoucherify, str]) -> tuple[FakeVoucherify, str]:
    """The fake Voucherify customers API, reset."""
    _voucherify[0].reset()
    return _voucherify


@pytest.fixture
async def http_client() -> AsyncIterator[GuardedClient]:
    async with guarded_client(AddressGuard(allow_private=True), timeout=5.0) as client:
        yield client
