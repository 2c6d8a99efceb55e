"""Editor sign-in: the session cookie, the signed-in user, roles, CSRF and the login rate limit.

The session lives in a cookie encrypted with AES-GCM under a key derived from
``settings.secret_key``; it holds the user id and the CSRF token, and the user row is read on
every request, so disabling a user or changing a role takes effect at once.

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
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.types import ASGIApp

from distribution.db import Database
from distribution.errors import NotFoundError
from distribution.models import Project
from distribution.users import Role, get_user, has_role
from web.settings import Settings

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CsrfError",
    "ForbiddenError",
    "LoginRateLimiter",
    "SignInRequiredError",
    "UiUser",
    "check_csrf",
    "csrf_token",
    "provide_ui_user",
    "session_config",
    "session_middleware",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_HOURS = 12


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

    def can(self, needed: Role) -> bool:
        """Whether this user's role is at least `needed`."""
        return has_role(self.role, needed)

    def require(self, needed: Role) -> None:
        """Raise ForbiddenError unless the role is at least `needed`."""
        if not self.can(needed):
            raise ForbiddenError(f"this needs the {needed} role; you are a {self.role}")


def session_config(settings: Settings) -> CookieBackendConfig:
    """The encrypted session cookie; Secure when the service is reached over https."""
    # A key of its own, so that the session key and other uses of the secret never coincide.
    key = hashlib.sha256(b"dm-ui-session\x00" + settings.secret_key.encode()).digest()
    return CookieBackendConfig(
        secret=key,
        key="dm_session",
        max_age=SESSION_HOURS * 3600,
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


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The session's CSRF token, created (and the session started) on first use."""
    session = request.session if request.scope.get("session") else {}
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.set_session({**session, "csrf": token})
    return token


async def check_csrf(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: refuse an unsafe request whose token is not the session's."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = (request.session if request.scope.get("session") else {}).get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type[0] in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfError("the form expired or did not come from this site; reload and try again")


def provide_ui_user(request: Request[Any, Any, Any], db: NamedDependency[Database]) -> UiUser:
    """Dependency: the signed-in, enabled user, or SignInRequiredError."""
    session = request.session if request.scope.get("session") else {}
    user_id = session.get("uid")
    if not isinstance(user_id, str):
        raise SignInRequiredError
    with db.reader() as tx:
        try:
            user = get_user(tx, user_id)
        except NotFoundError:
            raise SignInRequiredError from None
        project = tx.get(Project, user.project_id)
    if user.disabled_at is not None or project is None:
        raise SignInRequiredError
    return UiUser(user.id, user.email, user.role, project.id, project.name)


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
