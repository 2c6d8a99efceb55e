"""PostgreSQL's counts: its statement triggers append deltas that a fold moves into the counts,
so two writers of one campaign never wait on each other and a fold racing them loses nothing.

(SQLite has one writer: its row triggers update the counts directly, as
``tests/test_distribution/test_delivery_counts.py`` checks on both databases.)
"""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text

from distribution.events.scheduler import scheduled_round
from distribution.models import utcnow
from distribution.storage.db import Database
from distribution.storage.delivery_counts import fold, fold_when_many
from distribution.storage.ids import new_id
from tests.conftest import make_project
from tests.test_distribution.delivery_count_rows import (
    STATUSES,
    assert_counts_match,
    delivery_row,
    insert_rows,
    read_counts,
)
from tests.test_distribution.engine_helpers import LINKS


def test_two_writers_of_one_campaign_never_wait_on_the_counts(postgres: Database) -> None:
    project_id = make_project(postgres).project.id
    campaign_id = new_id("camp")
    now = utcnow()
    first = [delivery_row(project_id, campaign_id, now) for _ in range(50)]
    second = [delivery_row(project_id, campaign_id, now) for _ in range(50)]
    with postgres.session() as session:
        insert_rows(session.connection(), first + second)
    with postgres.engine.connect() as one, postgres.engine.connect() as two:
        for connection in (one, two):
            # A wait on a lock fails the statement at once instead of hanging the test.
            connection.execute(text("SET lock_timeout = '200ms'"))
        # Both move rows of the same keys (same campaign, day and statuses) and stay open:
        # with shared counter rows the second would wait for the first to commit.
        for connection, rows in ((one, first), (two, second)):
            connection.execute(
                text("UPDATE delivery SET status = 'sent', sent_at = :t WHERE id = ANY(:ids)"),
                {"t": now, "ids": [r["id"] for r in rows]},
            )
            insert_rows(connection, [delivery_row(project_id, campaign_id, now)])
        two.commit()
        one.commit()
    assert_counts_match(postgres, project_id, campaign_id)
    assert read_counts(postgres, project_id, campaign_id)["total"] == {"sent": 100, "queued": 2}


def test_a_fold_racing_writers_loses_nothing(postgres: Database) -> None:
    project_id = make_project(postgres).project.id
    campaign_id = new_id("camp")
    now = utcnow()
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for batch in range(20):
                rows = [
                    delivery_row(project_id, campaign_id, now + timedelta(days=batch % 3))
                    for _ in range(10)
                ]
                with postgres.session() as session:
                    insert_rows(session.connection(), rows)
                with postgres.session() as session:
                    session.connection().execute(
                        text("UPDATE delivery SET status = :s, sent_at = :t WHERE id = ANY(:ids)"),
                        {
                            "s": STATUSES[(batch + worker) % 5],
                            "t": now,
                            "ids": [r["id"] for r in rows],
                        },
                    )
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    def keep_folding() -> None:
        while not stop.is_set():
            fold(postgres.engine)

    folder = threading.Thread(target=keep_folding)
    writers = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    folder.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    stop.set()
    folder.join()
    assert errors == []
    assert_counts_match(postgres, project_id, campaign_id)
    fold(postgres.engine)
    assert_counts_match(postgres, project_id, campaign_id)
    assert sum(read_counts(postgres, project_id, campaign_id)["total"].values()) == 400


def _deltas(postgres: Database) -> int:
    with postgres.reader() as session:
        return int(
            session.connection()
            .execute(text("SELECT count(*) FROM delivery_count_delta"))
            .scalar_one()
        )


def test_the_scheduler_round_and_a_read_finding_many_deltas_fold_them(postgres: Database) -> None:
    project_id = make_project(postgres).project.id
    campaign_id = new_id("camp")
    for _ in range(2):
        with postgres.session() as session:
            insert_rows(session.connection(), [delivery_row(project_id, campaign_id, utcnow())])
    assert _deltas(postgres) >= 2
    scheduled_round(postgres, LINKS, utcnow())
    assert _deltas(postgres) == 0
    with postgres.session() as session:
        insert_rows(session.connection(), [delivery_row(project_id, campaign_id, utcnow())])
    with postgres.reader() as session:
        fold_when_many(session.connection(), 2)  # one waits: fewer than asked, left
    assert _deltas(postgres) >= 1
    with postgres.reader() as session:
        fold_when_many(session.connection(), 1)
    assert _deltas(postgres) == 0
    assert_counts_match(postgres, project_id, campaign_id)
