"""A recording aiosmtpd handler and a controller that serves it (plain, STARTTLS, implicit TLS)."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USERNAME = "mailer"
PASSWORD = "smtp-password-123456"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    mail_options: list[str] = field(default_factory=list)

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class RecordingHandler:
    """Records messages and sessions; `rcpt_replies` refuses chosen recipients."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.sessions: list[Any] = []
        self.rcpt_replies: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def connections(self) -> int:
        """Distinct SMTP sessions that started a mail transaction."""
        return len(self.sessions)

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.sessions.clear()
            self.rcpt_replies.clear()

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        with self._lock:
            if not any(s is session for s in self.sessions):
                self.sessions.append(session)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.content,
                    list(envelope.mail_options),
                )
            )
        return "250 2.0.0 Message accepted for delivery"


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == USERNAME.encode() and auth_data.password == PASSWORD.encode()
    )
    # handled=False makes aiosmtpd answer 535 itself (its default True means "already replied").
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    """A port that was free a moment ago (aiosmtpd needs the number before it binds)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_smtp_server(
    handler: RecordingHandler,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    auth: bool = False,
    smtputf8: bool = False,
) -> Controller:
    """Start aiosmtpd on 127.0.0.1 (free port); stop it with `.stop()`.

    `smtputf8`: advertise SMTPUTF8 (RFC 6531), so addresses may have non-ASCII local parts.
    """
    kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if auth:
        # With STARTTLS, AUTH is only advertised after the upgrade. aiosmtpd does not count an
        # implicit-TLS socket as TLS for that check, so it is switched off there.
        kwargs.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=starttls is not None,
        )
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=implicit_tls,
        server_hostname="localhost",
        **kwargs,
    )
    controller.start()
    return controller
