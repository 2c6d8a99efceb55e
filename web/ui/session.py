"""Editor sign-in: the session cookie, the signed-in user, roles, CSRF and the login rate limit.

The session cookie is encrypted with AES-GCM under a key derived from ``settings.secret_key``;
it holds the CSRF token and, once signed in, the id of a ``user_session`` row. That row and the
user's are read on every request, so signing out (which revokes the row), a password reset,
disabling a user or changing a role takes effect at once, in every process. A sign-in ends after
``DM_SESSION_IDLE_TIMEOUT`` without requests and, however busy, ``DM_SESSION_MAX_AGE`` after it
began (see ``distribution.accounts.user_sessions``).

CSRF uses the synchronizer-token pattern: every form carries ``csrf_token`` and every UI JSON
POST sends ``X-CSRF-Token``; both must equal the token in the session.

The login rate limit is kept in this process's memory: with several processes each one counts
on its own, so the effective limit is multiplied by the number of processes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.types import ASGIApp

from distribution.accounts.user_sessions import (
    SessionPolicy,
    active_session,
    end_session,
    start_session,
    touch_session,
)
from distribution.accounts.users import Role, has_role
from distribution.storage.db import Database
from web.settings import Settings

__all__ = [
    "ADMINS_ONLY",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "EDITORS_ONLY",
    "Clock",
    "CsrfError",
    "ForbiddenError",
    "LoginRateLimiter",
    "RoleGuard",
    "SignInRequiredError",
    "SignIns",
    "UiUser",
    "check_csrf",
    "csrf_token",
    "known_user",
    "provide_ui_user",
    "session_config",
    "session_data",
    "session_middleware",
    "sign_in",
    "sign_out",
    "signed_in_user",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Where the request's signed-in user is kept once read, for the guard and the handler both.
_USER_KEY = "ui_user"

#: What tells the time of sign-ins: naive UTC, injectable by the composition root for tests.
Clock = Callable[[], datetime]


class SignInRequiredError(Exception):
    """The request needs a signed-in user and has none."""


class ForbiddenError(Exception):
    """The signed-in user's role does not allow this."""


class CsrfError(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True)
class UiUser:
    """The signed-in person, as the pages and the UI API see them."""

    id: str
    email: str
    role: str
    project_id: str
    project_name: str
    default_region: str

    def can(self, needed: Role) -> bool:
        """Whether this user's role is at least `needed`."""
        return has_role(self.role, needed)


@dataclass(frozen=True)
class SignIns:
    """How long sign-ins last, and the clock they are measured by."""

    policy: SessionPolicy
    clock: Clock

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> SignIns:
        """The policy of ``DM_SESSION_MAX_AGE`` and ``DM_SESSION_IDLE_TIMEOUT``."""
        policy = SessionPolicy(
            max_age=timedelta(seconds=settings.session_max_age),
            idle_timeout=timedelta(seconds=settings.session_idle_timeout),
        )
        return cls(policy, clock)


def session_config(settings: Settings) -> CookieBackendConfig:
    """The encrypted session cookie; Secure when the service is reached over https."""
    # A key of its own, so that the session key and other uses of the secret never coincide.
    key = hashlib.sha256(b"dm-ui-session\x00" + settings.secret_key.encode()).digest()
    return CookieBackendConfig(
        secret=key,
        key="dm_session",
        # The browser may keep the cookie this long; whether it still signs anyone in is the
        # user_session row's to say.
        max_age=settings.session_max_age,
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
        path="/",
    )


def _session_layer(app: ASGIApp, config: CookieBackendConfig) -> ASGIApp:
    return SessionMiddleware(app, backend=ClientSideSessionBackend(config=config))


def session_middleware(settings: Settings) -> DefineMiddleware:
    """The session middleware; its cipher is built late because routers are deep-copied."""
    return DefineMiddleware(_session_layer, config=session_config(settings))


def session_data(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
    """What the session cookie holds (empty without one)."""
    return dict(connection.session) if connection.scope.get("session") else {}


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The session's CSRF token, created (and the session started) on first use."""
    session = session_data(request)
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.set_session({**session, "csrf": token})
    return token


async def check_csrf(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: refuse an unsafe request whose token is not the session's."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session_data(request).get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type[0] in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfError("the form expired or did not come from this site; reload and try again")


def signed_in_user(connection: ASGIConnection[Any, Any, Any, Any]) -> UiUser:
    """The user of a valid session, or SignInRequiredError; read once per request."""
    known = connection.state.get(_USER_KEY)
    if isinstance(known, UiUser):
        return known
    session_id = session_data(connection).get("sid")
    if not isinstance(session_id, str):
        raise SignInRequiredError
    services = connection.app.state
    db: Database = services.database
    sign_ins: SignIns = services.sign_ins
    now = sign_ins.clock()
    with db.reader() as tx:
        found = active_session(tx, session_id, now, sign_ins.policy)
    if found is None:
        raise SignInRequiredError
    if sign_ins.policy.touch_due(found.session, now):
        with db.session() as tx:
            touch_session(tx, session_id, now)
    user, project = found.user, found.project
    signed_in = UiUser(
        user.id, user.email, user.role, project.id, project.name, project.default_region
    )
    connection.state[_USER_KEY] = signed_in
    return signed_in


def known_user(connection: ASGIConnection[Any, Any, Any, Any]) -> UiUser | None:
    """The user this request already found signed in, if any; never reads the database.

    Error pages use it to keep the frame (nav, account) when the request got that far.
    """
    known = connection.state.get(_USER_KEY)
    return known if isinstance(known, UiUser) else None


def provide_ui_user(request: Request[Any, Any, Any]) -> UiUser:
    """Dependency: the signed-in user (see ``signed_in_user``)."""
    return signed_in_user(request)


@dataclass(frozen=True)
class RoleGuard:
    """A route guard: the signed-in user's role must be at least ``needed`` (else 403)."""

    needed: Role

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
    ) -> None:
        # Guards run before the router's before-request hook: the CSRF token is checked first
        # all the same, so a forged request is refused for its token whoever sends it.
        if isinstance(connection, Request):
            await check_csrf(connection)
        user = await anyio.to_thread.run_sync(signed_in_user, connection)
        if not user.can(self.needed):
            raise ForbiddenError(f"this needs the {self.needed} role; you are a {user.role}")


#: Guards of what only editors (and admins) may do, and of what only admins may.
EDITORS_ONLY = RoleGuard("editor")
ADMINS_ONLY = RoleGuard("admin")


def sign_in(request: Request[Any, Any, Any], db: Database, sign_ins: SignIns, user_id: str) -> None:
    """Start a new session for the user; a new CSRF token replaces whatever the cookie held."""
    with db.session() as tx:
        session_id = start_session(tx, user_id, sign_ins.clock(), sign_ins.policy)
    request.set_session({"sid": session_id, "csrf": secrets.token_urlsafe(32)})


def sign_out(request: Request[Any, Any, Any], db: Database, sign_ins: SignIns) -> None:
    """Revoke the session on the server (a copy of the cookie stops working) and forget it."""
    session_id = session_data(request).get("sid")
    if isinstance(session_id, str):
        with db.session() as tx:
            end_session(tx, session_id, sign_ins.clock())
    request.clear_session()


class LoginRateLimiter:
    """Failed sign-ins per (email, client address): at most `limit` in `window` seconds."""

    def __init__(self, limit: int = 5, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, email: str, address: str) -> int:
        """Seconds until another attempt is allowed; 0 when one is allowed now."""
        now = time.monotonic()
        with self._lock:
            times = self._recent((email.strip().lower(), address), now)
            if len(times) < self.limit:
                return 0
            return max(1, int(times[0] + self.window - now + 0.999))

    def failed(self, email: str, address: str) -> None:
        """Count one failed attempt."""
        now = time.monotonic()
        key = (email.strip().lower(), address)
        with self._lock:
            if len(self._failures) >= self.max_keys:
                # Forget keys whose failures have all aged out, so memory stays bounded.
                for stale in [k for k in self._failures if not self._recent(k, now)]:
                    del self._failures[stale]
                if len(self._failures) >= self.max_keys:
                    del self._failures[next(iter(self._failures))]
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times

    def succeeded(self, email: str, address: str) -> None:
        """Forget the failures of a key after a successful sign-in."""
        with self._lock:
            self._failures.pop((email.strip().lower(), address), None)


def rate_limiter(state: State) -> LoginRateLimiter:
    """The app's login rate limiter (created on first use)."""
    limiter = state.get("login_rate_limiter")
    if not isinstance(limiter, LoginRateLimiter):
        limiter = LoginRateLimiter()
        state["login_rate_limiter"] = limiter
    return limiter
