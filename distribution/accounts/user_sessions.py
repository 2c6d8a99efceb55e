"""Sign-in sessions of the editor, kept in the database so that any process can end them.

A session is valid while it is not revoked, younger than the absolute lifetime
(``SessionPolicy.max_age``, counted from sign-in, never renewed) and used within the idle
timeout. Use renews the idle timeout only: a session, however busy, ends ``max_age`` after its
sign-in. Times are naive UTC and passed in, so the caller's clock decides what "now" is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, delete, select

from distribution.models import Project, User, UserSession

__all__ = [
    "ActiveSession",
    "SessionPolicy",
    "active_session",
    "end_session",
    "end_user_sessions",
    "start_session",
    "touch_session",
]


@dataclass(frozen=True)
class SessionPolicy:
    """How long a sign-in lasts."""

    max_age: timedelta = timedelta(hours=12)
    idle_timeout: timedelta = timedelta(minutes=30)
    #: ``last_seen_at`` is written at most this often, so a busy editor does not make every
    #: request a write (SQLite has one writer); the idle timeout is this much less precise.
    touch_every: timedelta = timedelta(minutes=1)

    def ends_at(self, row: UserSession) -> datetime:
        """When the session ends unless it is used again (and at the latest)."""
        return min(row.created_at + self.max_age, row.last_seen_at + self.idle_timeout)

    def touch_due(self, row: UserSession, now: datetime) -> bool:
        """Whether to record the session's use now (see ``touch_every``)."""
        return now - row.last_seen_at >= self.touch_every


@dataclass(frozen=True)
class ActiveSession:
    """A valid session with its enabled user and the user's project."""

    session: UserSession
    user: User
    project: Project


def start_session(session: Session, user_id: str, now: datetime, policy: SessionPolicy) -> str:
    """A new session of the user (their sign-in time is noted), and its id (the cookie's secret)."""
    # The user's ended sessions are forgotten here, so the table holds about one row per browser.
    session.exec(
        delete(UserSession).where(
            col(UserSession.user_id) == user_id,
            or_(
                col(UserSession.revoked_at).is_not(None),
                col(UserSession.created_at) <= now - policy.max_age,
                col(UserSession.last_seen_at) <= now - policy.idle_timeout,
            ),
        )
    )
    user = session.get(User, user_id)
    if user is not None:
        user.last_login_at = now
        session.add(user)
    session_id = secrets.token_urlsafe(32)
    session.add(UserSession(id=session_id, user_id=user_id, created_at=now, last_seen_at=now))
    return session_id


def active_session(
    session: Session, session_id: str, now: datetime, policy: SessionPolicy
) -> ActiveSession | None:
    """The session with this id if it is valid now and its user enabled, else None."""
    found = session.exec(
        select(UserSession, User, Project)
        .join(User, col(User.id) == col(UserSession.user_id))
        .join(Project, col(Project.id) == col(User.project_id))
        .where(UserSession.id == session_id)
    ).first()
    if found is None:
        return None
    row, user, project = found
    if row.revoked_at is not None or user.disabled_at is not None or now >= policy.ends_at(row):
        return None
    return ActiveSession(row, user, project)


def touch_session(session: Session, session_id: str, now: datetime) -> None:
    """Record use of the session now, which renews its idle timeout (never its lifetime)."""
    session.exec(
        update(UserSession)
        .where(col(UserSession.id) == session_id, col(UserSession.last_seen_at) < now)
        .values(last_seen_at=now)
    )


def end_session(session: Session, session_id: str, now: datetime) -> None:
    """Revoke one session (sign-out); its cookie no longer signs anyone in."""
    session.exec(
        update(UserSession)
        .where(col(UserSession.id) == session_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def end_user_sessions(session: Session, user_id: str, now: datetime) -> None:
    """Revoke every session of the user (password reset, disabled user)."""
    session.exec(
        update(UserSession)
        .where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
