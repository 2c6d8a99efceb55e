"""The preparation process: tasks run in a child of their own, which is replaced if it dies."""

from __future__ import annotations

import os
import signal

import pytest
from sqlmodel import func, select

from distribution.bulk import begin_job, cancel_job, check_rows, get_job
from distribution.bulk.preparer import Preparer, PreparerError
from distribution.bulk.timing import phase_seconds
from distribution.models import Delivery
from distribution.storage.db import Database
from distribution.template_store.rendering import COMPILED
from tests.builders import held_bulk_job
from tests.conftest import ProjectCredentials
from tests.test_distribution.engine_helpers import LINKS


def test_a_job_is_prepared_in_the_child_and_a_dead_child_is_replaced(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id = held_bulk_job(database, project_id, 30)
    preparer = Preparer(database)
    assert not preparer.in_process
    try:
        assert preparer.ready(timeout=60)
        before = phase_seconds()["preflight"]
        assert preparer.begin_job(project_id, job_id, LINKS) == "preparing"
        assert phase_seconds()["preflight"] > before  # the child's timings come back
        assert preparer.prepare_batch(project_id, job_id, LINKS, 10) == ("preparing", 10)
        child = preparer._process
        assert child is not None
        assert child.pid is not None
        assert child.pid != os.getpid()
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        with pytest.raises(PreparerError, match="died"):
            preparer.prepare_batch(project_id, job_id, LINKS, 10)
        # The next task starts a new child and carries on after the last committed batch.
        assert preparer.ready(timeout=60)
        assert preparer._process is not None
        assert preparer._process.pid != child.pid
        assert check_rows(database, project_id, job_id, LINKS) == "preparing"
        while preparer.prepare_batch(project_id, job_id, LINKS, 10)[0] == "preparing":
            pass
    finally:
        preparer.close()
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        rows = session.exec(
            select(func.count(), func.count(func.distinct(Delivery.customer_id))).where(
                Delivery.bulk_job_id == job_id
            )
        ).one()
    assert job.status == "sending"
    assert job.counts["prepared"] == 30
    assert tuple(rows) == (30, 30)
    with database.session() as session:
        cancel_job(session, project_id, job_id, release_codes=False)


def test_batches_run_here_until_the_child_is_ready(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id = held_bulk_job(database, project_id, 20)
    preparer = Preparer(database)
    try:
        preparer.warm()
        # Spawning the child and importing the program takes it far longer than these calls.
        assert not preparer.ready()
        COMPILED.clear()
        # As the runner does: the job starts in this process, then its first batch.
        assert begin_job(database, project_id, job_id, LINKS) == "preparing"
        assert preparer.prepare_batch(project_id, job_id, LINKS, 10) == ("preparing", 10)
        with database.reader() as session:
            versions = set(
                session.exec(
                    select(Delivery.template_version_id).where(Delivery.bulk_job_id == job_id)
                )
            )
        # The batch compiled its template in this process: it was prepared here.
        assert versions
        assert all(v in COMPILED for v in versions)
        assert preparer.ready(timeout=60)
        COMPILED.clear()
        # The next batch: in the child.
        assert preparer.prepare_batch(project_id, job_id, LINKS, 10) == ("preparing", 10)
        assert len(COMPILED) == 0
    finally:
        preparer.close()
    with database.session() as session:
        cancel_job(session, project_id, job_id, release_codes=False)


def test_in_process_preparation_starts_no_child(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    job_id = held_bulk_job(database, project_id, 5)
    preparer = Preparer(database, in_process=True)
    preparer.warm()
    assert preparer.begin_job(project_id, job_id, LINKS) == "preparing"
    assert preparer.prepare_batch(project_id, job_id, LINKS, 10) == ("preparing", 5)
    assert preparer._process is None
    preparer.close()
    with database.session() as session:
        cancel_job(session, project_id, job_id, release_codes=False)
