"""Bulk sends: a campaign's codes and messages to a whole audience, resumable and observable.

Modules: ``jobs`` (create, progress, pause/resume/cancel), ``audience`` (who, in id order),
``preflight`` (the dry run), ``recipients`` (address, variant, render of one recipient),
``prepare`` (batches of codes and delivery rows), ``runner`` (the asyncio task).
"""

from distribution.bulk.controls import JobAction, JobWakers, control_job
from distribution.bulk.jobs import (
    DEFAULT_SEND_DELAY,
    BulkSpec,
    Progress,
    build_job,
    cancel_job,
    create_job,
    get_job,
    job_outcome,
    job_progress,
    pause_job,
    resume_job,
    send_now,
)
from distribution.bulk.preflight import preflight, stock_check
from distribution.bulk.prepare import (
    BULK_PRIORITY,
    PreparedCounts,
    begin_job,
    check_rows,
    finish_if_sent,
    prepare_batch,
    prepare_customers,
)
from distribution.bulk.runner import BulkRunner

__all__ = [
    "BULK_PRIORITY",
    "DEFAULT_SEND_DELAY",
    "BulkRunner",
    "BulkSpec",
    "JobAction",
    "JobWakers",
    "PreparedCounts",
    "Progress",
    "begin_job",
    "build_job",
    "cancel_job",
    "check_rows",
    "control_job",
    "create_job",
    "finish_if_sent",
    "get_job",
    "job_outcome",
    "job_progress",
    "pause_job",
    "preflight",
    "prepare_batch",
    "prepare_customers",
    "resume_job",
    "send_now",
    "stock_check",
]
