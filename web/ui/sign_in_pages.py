"""Signing in and out: the sign-in form, the project chooser, sign-out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from distribution.accounts.users import Account, check_password
from distribution.errors import AuthenticationError
from distribution.storage.db import Database
from web.ui.pages import page
from web.ui.session import SignIns, rate_limiter, session_data, sign_in, sign_out

__all__ = ["SignInPagesController"]


@dataclass
class LoginForm:
    """The sign-in form (every field optional so a bad post gets the page, not a 422)."""

    email: str = ""
    password: str = ""
    next: str = ""
    csrf_token: str = ""


@dataclass
class ProjectChoiceForm:
    """The project picked after a password that several projects' accounts accept."""

    account: str = ""
    csrf_token: str = ""


#: How long the project chooser waits for a pick before the password must be typed again.
CHOICE_SECONDS = 300


def _safe_next(target: str) -> str:
    # Only paths on this site: "//host" and "/\host" would leave it.
    if target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target:
        return target
    return "/"


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class SignInPagesController(Controller):
    """The pages and posts of signing in and out; the only pages open to everyone."""

    path = "/"

    @get("/login", sync_to_thread=False)
    def login_page(self, request: Request[Any, Any, Any], next: FromQuery[str] = "") -> Template:
        """The sign-in form."""
        return page(request, "login.html", None, next=_safe_next(next) if next else "")

    @post("/login", sync_to_thread=True, status_code=303)
    def login(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        sign_ins: NamedDependency[SignIns],
        data: URLEncodedBody[LoginForm],
    ) -> Response[Any]:
        """Check the password; on success start a fresh session (new CSRF token).

        When the email's accounts in several projects accept the password, the person picks
        the project next; otherwise the one account is signed in at once.
        """
        limiter = rate_limiter(request.app.state)
        address = _client(request)
        wait = limiter.retry_after(data.email, address)
        if wait:
            response = page(
                request,
                "login.html",
                None,
                status_code=429,
                next=data.next,
                email=data.email,
                error=f"Too many attempts. Wait {wait} seconds and try again.",
            )
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            with db.session() as tx:
                accounts = check_password(tx, data.email, data.password)
        except AuthenticationError:
            limiter.failed(data.email, address)
            return page(
                request,
                "login.html",
                None,
                status_code=401,
                next=data.next,
                email=data.email,
                error="Wrong email or password.",
            )
        limiter.succeeded(data.email, address)
        if len(accounts) == 1:
            sign_in(request, db, sign_ins, accounts[0].user.id)
            return Redirect(path=_safe_next(data.next), status_code=303)
        return self._choose_project(request, sign_ins, accounts, data)

    def _choose_project(
        self,
        request: Request[Any, Any, Any],
        sign_ins: SignIns,
        accounts: list[Account],
        data: LoginForm,
    ) -> Template:
        # Which project is meant is asked, never guessed. The accounts that accepted the
        # password wait in the encrypted cookie, so the password is not sent or kept again.
        until = sign_ins.clock() + timedelta(seconds=CHOICE_SECONDS)
        request.set_session(
            {
                **session_data(request),
                "choose": [a.user.id for a in accounts],
                "choose_until": until.isoformat(),
                "next": _safe_next(data.next),
            }
        )
        choices = [{"account": a.user.id, "project": a.project_name} for a in accounts]
        return page(request, "login.html", None, email=data.email, choices=choices)

    @post("/login/project", sync_to_thread=True, status_code=303)
    def choose_project(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        sign_ins: NamedDependency[SignIns],
        data: URLEncodedBody[ProjectChoiceForm],
    ) -> Response[Any]:
        """Sign in to the project picked from those whose account accepted the password."""
        pending = session_data(request)
        offered = pending.get("choose")
        until = pending.get("choose_until")
        fresh = isinstance(until, str) and sign_ins.clock() < datetime.fromisoformat(until)
        if not fresh or not isinstance(offered, list) or data.account not in offered:
            return page(
                request,
                "login.html",
                None,
                status_code=401,
                error="The sign-in expired. Enter your email and password again.",
            )
        sign_in(request, db, sign_ins, data.account)
        return Redirect(path=_safe_next(str(pending.get("next", ""))), status_code=303)

    @post("/logout", sync_to_thread=True, status_code=303)
    def logout(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        sign_ins: NamedDependency[SignIns],
    ) -> Redirect:
        """End the session on the server, so that a copy of the cookie no longer works."""
        sign_out(request, db, sign_ins)
        return Redirect(path="/login", status_code=303)
