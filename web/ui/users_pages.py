"""The Users page (admins): the project's people, their roles, adding and disabling them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from distribution.accounts.users import ROLES, create_user, list_users, set_disabled, set_role
from distribution.errors import DistributionError
from distribution.storage.db import Database
from web.ui.pages import page
from web.ui.session import ADMINS_ONLY, UiUser

__all__ = ["UsersPagesController"]


@dataclass
class NewUserForm:
    """The admin's form to add a user."""

    email: str = ""
    role: str = "viewer"
    password: str = ""
    csrf_token: str = ""


@dataclass
class UserChangeForm:
    """Change one user's role or enable/disable them."""

    role: str = ""
    disabled: str = ""
    csrf_token: str = ""


class UsersPagesController(Controller):
    """Admins only."""

    path = "/"

    @get("/users", sync_to_thread=True, guards=[ADMINS_ONLY])
    def users(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
    ) -> Template:
        """The project's users (admins only)."""
        return self._users_page(request, user, db)

    def _users_page(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: Database,
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        with db.reader() as tx:
            people = list_users(tx, user.project_id)
        return page(
            request,
            "users.html",
            user,
            status_code=status_code,
            section="users",
            people=people,
            roles=ROLES,
            **extra,
        )

    @post("/users", sync_to_thread=True, status_code=200, guards=[ADMINS_ONLY])
    def add_user(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        data: URLEncodedBody[NewUserForm],
    ) -> Template:
        """Create a user; a generated password is shown once on the page."""
        try:
            with db.session() as tx:
                new = create_user(tx, user.project_id, data.email, data.role, data.password or None)
        except DistributionError as error:
            return self._users_page(request, user, db, 422, error=str(error), form=data)
        shown = None if data.password else new.password
        return self._users_page(request, user, db, created=new.user.email, new_password=shown)

    @post("/users/{user_id:str}", sync_to_thread=True, status_code=303, guards=[ADMINS_ONLY])
    def change_user(
        self,
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        user_id: FromPath[str],
        data: URLEncodedBody[UserChangeForm],
    ) -> Redirect:
        """Change a role, or disable/enable a user. Admins cannot lock themselves out."""
        with db.session() as tx:
            if data.role:
                if user_id == user.id and data.role != "admin":
                    raise DistributionError("you cannot take the admin role from yourself")
                set_role(tx, user.project_id, user_id, data.role)
            if data.disabled in ("1", "0"):
                if user_id == user.id:
                    raise DistributionError("you cannot disable yourself")
                set_disabled(tx, user.project_id, user_id, data.disabled == "1")
        return Redirect(path="/users", status_code=303)
