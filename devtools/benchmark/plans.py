"""Every SQL statement the measured pages send, timed under both plans PostgreSQL may run it
with once prepared (settings: DB_PREPARED_STATEMENTS): the generic plan, made once for any
values of its parameters, and a custom plan made for the values at hand. After five runs of a
statement on a connection PostgreSQL may keep the generic plan for every later run, so a page
fast with custom plans can turn slow; this lists the statements whose generic plan is much
slower (a whale's sections read by the wrong index once did, and the ticket queue's open
tickets)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import psycopg.sql
from django.db import DatabaseError, connection, transaction
from django.test import Client

# A generic plan is reported when it is this much slower than the custom one, and by at least
# this many milliseconds (below that, a re-plan costs as much as it saves).
SLOWER = 2.0
AT_LEAST_MS = 1.0


@dataclass
class Slower:
    url: str
    generic_ms: float
    custom_ms: float
    statement: str


@dataclass
class PlanCheck:
    statements: int = 0
    slower: list[Slower] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "url: why", a page or a statement

    def report(self) -> str:
        lines = [
            f"Prepared plans: {self.statements} statements of the pages above run under their "
            f"generic and their custom plan (best of 3 each); generic more than {SLOWER:g}× "
            f"and {AT_LEAST_MS:g} ms slower: {len(self.slower) or 'none'}"
        ]
        lines += [
            f"  {row.url}: generic {row.generic_ms:.1f} ms, custom {row.custom_ms:.1f} ms: "
            f"{row.statement[:160]}"
            for row in self.slower
        ]
        lines += [f"  not planned: {why}" for why in self.skipped]
        return "\n".join(lines)


def statements_of[T](run: Callable[[], T]) -> tuple[T, list[tuple[str, list]]]:
    """What `run` returns, and the SELECTs it sent (statement, parameters), in order."""
    statements: list[tuple[str, list]] = []

    def capture(execute, sql, params, many, context):
        if sql.startswith(("SELECT", "WITH")):
            statements.append((sql, list(params or [])))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        result = run()
    return result, statements


def as_prepared(sql: str, params: list) -> tuple[str, str]:
    """The statement as PREPARE takes it (its %s as $1, $2, …) and the parameters as
    EXECUTE's argument list ("" for none), written as literals."""
    markers = iter(range(1, len(params) + 1))
    prepared = re.sub(r"%s", lambda _: f"${next(markers)}", sql).replace("%%", "%")
    raw = connection.connection
    values = ", ".join(psycopg.sql.Literal(p).as_string(raw) for p in params)
    return prepared, f"({values})" if values else ""


def compare(pages: list[tuple[Client, str]]) -> PlanCheck:
    """Each page fetched once through its client, each of its SELECTs then prepared and run
    under each plan mode. A page that fails or does not answer 200, or a statement that cannot
    be prepared, is listed as not planned, not the end of the run (the table is printed
    after)."""
    check = PlanCheck()
    for client, url in pages:
        try:
            response, statements = statements_of(partial(client.get, url))
        except Exception as error:  # a view's own exception, raised through the test client
            check.skipped.append(f"{url}: {type(error).__name__}: {error}"[:160])
            continue
        if response.status_code != 200:
            check.skipped.append(f"{url}: answered {response.status_code}")
            continue
        for sql, params in statements:
            try:
                generic = _best_ms(sql, params, "force_generic_plan")
                custom = _best_ms(sql, params, "force_custom_plan")
            except DatabaseError as error:
                check.skipped.append(f"{url}: {error}: {sql}"[:160])
                continue
            check.statements += 1
            if generic > SLOWER * custom and generic - custom > AT_LEAST_MS:
                check.slower.append(Slower(url, generic, custom, sql))
    return check


def _best_ms(sql: str, params: list, mode: str) -> float:
    """Planning and execution of the statement prepared under `mode`, best of three, in a
    savepoint of its own (a failed statement leaves the transaction as it was)."""
    prepared, arguments = as_prepared(sql, params)
    run = "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE benchmark_plan" + arguments
    best = float("inf")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL plan_cache_mode = {mode}")
            cursor.execute(f"PREPARE benchmark_plan AS {prepared}")
            for _ in range(3):
                cursor.execute(run)
                plan = cursor.fetchone()[0][0]
                best = min(best, plan["Execution Time"] + plan.get("Planning Time", 0.0))
            # Released, a savepoint keeps a SET LOCAL to the end of the enclosing transaction.
            cursor.execute("SET LOCAL plan_cache_mode = auto")
    finally:
        # A prepared statement outlives the savepoint (it is the session's), not the plan mode.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = 'benchmark_plan'")
            if cursor.fetchone():
                cursor.execute("DEALLOCATE benchmark_plan")
    return best
