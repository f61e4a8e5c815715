"""What `/readyz` checks: a process may take traffic once the database schema is the code's
(every migration applied) and the task worker is running (the periodic reconciliation, which
the worker runs every few minutes, ran recently)."""

from __future__ import annotations

import datetime as dt

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from billing.actions import pipeline
from billing.actions import reconcile as reconciler

# The worker is late after three periods without a run (a period is 5 minutes).
WORKER_LATE = 3 * reconciler.EVERY

_migrated = False  # once applied they stay applied: this process asks until then


def unapplied_migrations() -> int:
    global _migrated
    if _migrated:
        return 0
    executor = MigrationExecutor(connection)
    count = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    _migrated = count == 0
    return count


def readiness(*, now: dt.datetime) -> dict[str, str]:
    """Each check's finding: "ok", or what is wrong."""
    try:
        unapplied = unapplied_migrations()
    except DatabaseError:
        return {"database": "unavailable"}
    checks = {"migrations": "ok" if not unapplied else f"{unapplied} not applied"}
    if unapplied:
        return checks
    last = reconciler.last_run()
    if last is not None and last.finished_at > now - WORKER_LATE:
        checks["worker"] = "ok"
    else:
        since = f"since {last.finished_at:%Y-%m-%d %H:%M} UTC" if last else "ever"
        checks["worker"] = f"no periodic reconciliation {since}: is the task worker running?"
        # Its chain may never have started (a new deployment): ask for it.
        pipeline.ensure_reconciler(now)
    return checks
