"""Distributed mode: procrastinate jobs on the shared PostgreSQL carry batches of delivery ids.

Modules: ``app`` (the procrastinate App for a database URL), ``enqueue`` (marking rows as
carried by a job, deferring the jobs), ``tasks`` (the jobs: deliver a batch, sweep, bulk
rounds), ``notifier`` (the API side: committed ids become jobs), ``worker`` (running a
procrastinate worker, in ``dm worker`` or inside the API process).

The delivery rows stay the truth: a job only says "look at these rows"; claiming them is the
same ``claim_due`` with row locks the embedded worker uses, so a duplicate or late job sends
nothing twice, and a lost job is found again by the sweeper.
"""

from distribution.distributed.app import QUEUES, build_queue_app, queue_conninfo
from distribution.distributed.monitoring import queue_depths
from distribution.distributed.notifier import BulkKick, QueueNotifier
from distribution.distributed.tasks import WorkerRuntime
from distribution.distributed.worker import InProcessWorker, run_worker

__all__ = [
    "QUEUES",
    "BulkKick",
    "InProcessWorker",
    "QueueNotifier",
    "WorkerRuntime",
    "build_queue_app",
    "queue_conninfo",
    "queue_depths",
    "run_worker",
]
