"""The Celery task backend (`TASK_BACKEND=celery`), publishing after the transaction commits.

The database queue writes a task row in the enqueuing transaction, so a task exists exactly
when the change that asked for it does. A broker is outside the transaction: a task sent
before COMMIT could run before its rows are visible, or for a change rolled back. So a task
enqueued inside a transaction is sent once it commits (and not at all if it rolls back). Should
the process die between the commit and the send, the periodic reconciliation makes the
attempts whose retry task was lost (billing/actions/reconcile.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.tasks.base import Task, TaskResult, TaskResultStatus
from django_tasks_celery.backend import CeleryBackend as BaseCeleryBackend


class CeleryBackend(BaseCeleryBackend):
    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        if not transaction.get_connection().in_atomic_block:
            return super().enqueue(task, args, kwargs)
        self.validate_task(task)
        send = super().enqueue
        transaction.on_commit(lambda: send(task, args, kwargs), robust=False)
        return TaskResult(
            task=task,
            id=f"on-commit-{uuid.uuid4()}",
            status=TaskResultStatus.READY,
            enqueued_at=datetime.now(UTC),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
