"""Pause, resume, send now and cancel, with the wake-ups each needs once committed.

The API and the editor both control jobs; which background loop must look again after which
action is the bulk engine's knowledge, so it lives here once rather than in each handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlmodel import Session

from distribution.bulk.jobs import cancel_job, pause_job, resume_job, send_now
from distribution.models import BulkJob
from distribution.outbox.notifiers import DeliveryNotifier, Waker
from distribution.storage.db import Database

__all__ = ["JobAction", "JobWakers", "control_job"]

JobAction = Literal["pause", "resume", "send-now", "cancel"]
T = TypeVar("T")


@dataclass(frozen=True)
class JobWakers:
    """The loops to wake: the bulk runner (preparation) and the delivery worker."""

    runner: Waker
    worker: DeliveryNotifier


def control_job(
    database: Database,
    project_id: str,
    job_id: str,
    action: JobAction,
    view: Callable[[Session, BulkJob], T],
    wakers: JobWakers,
    *,
    release_codes: bool = False,
) -> T:
    """Apply ``action`` in one transaction and answer ``view`` of the job as it then stands."""
    with database.session() as session:
        if action == "pause":
            job = pause_job(session, project_id, job_id)
        elif action == "resume":
            job = resume_job(session, project_id, job_id)
        elif action == "send-now":
            job = send_now(session, project_id, job_id)
        else:
            job = cancel_job(session, project_id, job_id, release_codes=release_codes)
        answer = view(session, job)
    # After the commit, so the woken loops see the change.
    if action == "resume":
        wakers.runner.wake()
    if action in ("resume", "send-now"):
        wakers.worker.wake()
    return answer
