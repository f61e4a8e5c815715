"""Running the task queue in a test, as the worker would, with the clock moved forward.

The database queue's own worker (django-tasks-db's `db_worker` Worker) runs each task that is
due; `run_due_tasks` moves the test's clock (a time-machine traveller, the `clock` fixture) to
each next due time, so retries run with their real back-off delays without a test waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult, get_date_max

# The periodic reconciliation re-schedules itself for ever: run it by hand, or say so.
RECONCILE = "reconcile_periodically"


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """The test's clock, starting now and ticking; run_due_tasks moves it forward."""
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        yield traveller


def _worker() -> Worker:
    return Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )


def _ready(skip: tuple[str, ...]) -> list[DBTaskResult]:
    return sorted(
        (
            task
            for task in DBTaskResult.objects.filter(status="READY")
            if not task.task_path.endswith(skip)
        ),
        key=_due,
    )


def _due(task: DBTaskResult) -> dt.datetime:
    """When a task may run: django-tasks-db writes "no run_after" as the largest date."""
    return task.enqueued_at if task.run_after == get_date_max() else task.run_after


def run_due_tasks(
    clock: time_machine.Coordinates,
    *,
    until: dt.datetime | None = None,
    skip: tuple[str, ...] = (RECONCILE,),
    rounds: int = 500,
) -> int:
    """Run tasks as they fall due, moving `clock` to each, until none is left (or the next is
    after `until`). Tasks whose path ends with one of `skip` stay queued. Returns how many
    tasks ran."""
    ran = 0
    for _ in range(rounds):
        ready = _ready(skip)
        if not ready:
            return ran
        due = _due(ready[0])
        if until is not None and due > until:
            return ran
        if due > timezone.now():
            clock.move_to(due + dt.timedelta(milliseconds=10))
        for task in _ready(skip):
            if _due(task) > timezone.now():
                break
            task = DBTaskResult.objects.get(pk=task.pk)
            if task.status == "READY":
                task.claim("test-worker")
                _worker().run_task(task)
                ran += 1
    return ran


def failed_tasks() -> list[str]:
    return [
        f"{task.task_path}: {task.exception_class_path}\n{task.traceback}"
        for task in DBTaskResult.objects.filter(status="FAILED")
    ]
