"""A stream's reader never misses an event whose transaction commits after later ones were read
(PostgreSQL, where transactions commit in any order; SQLite has one writer at a time)."""

from __future__ import annotations

from distribution.accounts.projects import create_project
from distribution.storage.db import Database
from distribution.webhooks.streams import create_stream, read_stream, sequence
from distribution.webhooks.subscriptions import EVENT_TYPES, emit


def _read_all(
    database: Database, project_id: str, stream_id: str, after: str | None
) -> tuple[list[str], str | None]:
    with database.session() as session:
        sequence(session)
    with database.reader() as session:
        page = read_stream(session, project_id, stream_id, after=after, limit=100)
    return [e["data"]["id"] for e in page.entries], page.cursor


def test_an_event_committed_late_comes_after_the_cursor_not_behind_it(postgres: Database) -> None:
    with postgres.session() as session:
        project = create_project(session, "stream order")
        stream = create_stream(session, project.id, "bi", ["*"], known=EVENT_TYPES)
        project_id, stream_id = project.id, stream.id

    slow = postgres.session()
    late = slow.__enter__()
    # The slow transaction writes its event first (the lower id), and commits last.
    emit(late, project_id, "code.assigned", {"id": "late"})
    late.flush()
    with postgres.session() as session:
        emit(session, project_id, "code.assigned", {"id": "early"})
    seen, cursor = _read_all(postgres, project_id, stream_id, None)
    assert seen == ["early"]
    slow.__exit__(None, None, None)  # commits
    seen_after, cursor = _read_all(postgres, project_id, stream_id, cursor)
    assert seen_after == ["late"]
    assert _read_all(postgres, project_id, stream_id, cursor)[0] == []
    assert _read_all(postgres, project_id, stream_id, None)[0] == ["early", "late"]
