"""People who sign in to the editor: accounts, argon2 password hashes, roles.

Roles are ordered: a viewer looks, an editor also edits and sends tests, an admin also manages
users, providers and keys. Emails are compared lower-cased.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from distribution.accounts.user_sessions import end_user_sessions
from distribution.errors import (
    AuthenticationError,
    FieldError,
    InvalidInputError,
    NotFoundError,
)
from distribution.models import Project, User, utcnow
from distribution.storage.db import flush_or_conflict
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row, project_rows

__all__ = [
    "ROLES",
    "Account",
    "NewUser",
    "Role",
    "authenticate_user",
    "check_password",
    "create_user",
    "get_user",
    "has_role",
    "list_users",
    "reset_password",
    "set_disabled",
    "set_role",
]

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")
MIN_PASSWORD = 10
MAX_PASSWORD = 1000

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class NewUser:
    """A created user and, when it was generated, the password (shown once)."""

    user: User
    password: str


def has_role(role: str, needed: Role) -> bool:
    """Whether `role` is at least `needed` (admin > editor > viewer)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def _normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not 3 <= len(email) <= 320 or email.count("@") != 1 or email.startswith("@"):
        raise InvalidInputError([FieldError("email", "is not a valid email address")])
    return email


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidInputError([FieldError("role", "must be viewer, editor or admin")])
    return role


def create_user(
    session: Session, project_id: str, email: str, role: str, password: str | None = None
) -> NewUser:
    """Create a user; without `password` a strong one is generated and returned."""
    chosen = password if password is not None else secrets.token_urlsafe(15)
    if not MIN_PASSWORD <= len(chosen) <= MAX_PASSWORD:
        raise InvalidInputError(
            [FieldError("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")]
        )
    user = User(
        id=new_id("user"),
        project_id=project_id,
        email=_normalise_email(email),
        password_hash=_hasher.hash(chosen),
        role=_check_role(role),
    )
    flush_or_conflict(session, f"a user {user.email!r} already exists in this project", user)
    return NewUser(user=user, password=chosen)


@dataclass(frozen=True)
class Account:
    """A user whose password was just checked, with the name of their project."""

    user: User
    project_name: str


def check_password(session: Session, email: str, password: str) -> list[Account]:
    """The enabled accounts with this email and password, by project name; none is an error.

    An email may have accounts in several projects, each with its own password. Every one is
    checked, so the answer never depends on which account happens to be tried first.
    """
    candidates: list[tuple[User, str]] = []
    with contextlib.suppress(InvalidInputError):
        rows = session.exec(
            select(User, Project.name)
            .join(Project, col(Project.id) == col(User.project_id))
            .where(func.lower(User.email) == _normalise_email(email))
            .order_by(col(Project.name), col(User.id))
        )
        candidates = [(user, name) for user, name in rows]
    password = password[:MAX_PASSWORD]
    matching: list[Account] = []
    for user, project_name in candidates:
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            continue
        if user.disabled_at is not None:
            continue
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
            session.add(user)
        matching.append(Account(user, project_name))
    if not candidates:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
    if not matching:
        raise AuthenticationError("wrong email or password")
    return matching


def authenticate_user(
    session: Session, email: str, password: str, project_id: str | None = None
) -> User:
    """The one enabled account with this email and password (in ``project_id`` when given).

    This checks credentials only; signing in is ``user_sessions.start_session``.

    An email with matching accounts in several projects needs ``project_id``: which project is
    meant is never guessed.
    """
    accounts = check_password(session, email, password)
    if project_id is not None:
        accounts = [a for a in accounts if a.user.project_id == project_id]
    if not accounts:
        raise AuthenticationError("wrong email or password")
    if len(accounts) > 1:
        raise AuthenticationError("this email has accounts in several projects; name the project")
    return accounts[0].user


def get_user(session: Session, user_id: str) -> User:
    """A user by id, active or not."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    return user


def list_users(session: Session, project_id: str) -> list[User]:
    """The project's users, oldest first."""
    return project_rows(session, User, project_id)


def _project_user(session: Session, project_id: str, user_id: str) -> User:
    return project_row(session, User, project_id, user_id, "user")


def set_role(session: Session, project_id: str, user_id: str, role: str) -> User:
    """Change a user's role."""
    user = _project_user(session, project_id, user_id)
    user.role = _check_role(role)
    session.add(user)
    return user


def set_disabled(session: Session, project_id: str, user_id: str, disabled: bool) -> User:
    """Disable a user (they can no longer sign in; open sessions end) or enable them again."""
    user = _project_user(session, project_id, user_id)
    user.disabled_at = utcnow() if disabled else None
    if disabled:
        # Enabling the user again must not bring back the browsers signed in before.
        end_user_sessions(session, user.id, utcnow())
    session.add(user)
    return user


def reset_password(session: Session, project_id: str, email: str) -> str:
    """Give a user a new generated password and return it (shown once); their sessions end."""
    user = session.exec(
        select(User).where(User.project_id == project_id, User.email == _normalise_email(email))
    ).first()
    if user is None:
        raise NotFoundError("user", email)
    password = secrets.token_urlsafe(15)
    user.password_hash = _hasher.hash(password)
    session.add(user)
    end_user_sessions(session, user.id, utcnow())
    return password
