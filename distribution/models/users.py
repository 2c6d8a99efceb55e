"""People who sign in to the editor and their sign-in sessions. Passwords are argon2 hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from distribution.models.core import project_fk, utcnow

__all__ = ["User", "UserSession"]


class User(SQLModel, table=True):
    """A user of one project with a role: viewer, editor or admin."""

    __tablename__ = "app_user"
    __table_args__ = (UniqueConstraint("project_id", "email", name="uq_user_project_email"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    email: str = Field(sa_column=Column(String, nullable=False, index=True))
    password_hash: str
    role: str = "viewer"  # "viewer" | "editor" | "admin"
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=DateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=DateTime)


class UserSession(SQLModel, table=True):
    """One signed-in browser. Its id travels in the encrypted session cookie.

    The row, not the cookie, decides whether the browser is signed in: signing out, a password
    reset or disabling the user revokes it at once, on every process.
    """

    __tablename__ = "user_session"

    id: str = Field(primary_key=True)
    user_id: str = Field(
        sa_column=Column(
            String, ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(sa_type=DateTime)
    last_seen_at: datetime = Field(sa_type=DateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime)
