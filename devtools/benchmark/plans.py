"""Every SQL statement the measured pages send, timed under both plans PostgreSQL may run it
with once prepared (settings: DB_PREPARED_STATEMENTS): the generic plan, made once for any
values of its parameters, and a custom plan made for the values at hand. After five runs of a
statement on a connection PostgreSQL may keep the generic plan for every later run, so a page
fast with custom plans can turn slow; this lists the statements whose generic plan is much
slower (a whale's sections read by the wrong index once did, and the ticket queue's open
tickets)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg.sql
from django.db import connection
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
        return "\n".join(lines)


def compare(pages: list[tuple[Client, str]]) -> PlanCheck:
    """Each page fetched once through its client, each of its SELECTs then prepared and run
    under each plan mode."""
    check = PlanCheck()
    for client, url in pages:
        statements: list[tuple[str, list]] = []

        def capture(execute, sql, params, many, context, statements=statements):
            statements.append((sql, list(params or [])))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(capture):
            client.get(url)
        with connection.cursor() as cursor:
            for sql, params in statements:
                if not sql.startswith(("SELECT", "WITH")):
                    continue
                check.statements += 1
                generic = _best_ms(cursor, sql, params, "force_generic_plan")
                custom = _best_ms(cursor, sql, params, "force_custom_plan")
                if generic > SLOWER * custom and generic - custom > AT_LEAST_MS:
                    check.slower.append(Slower(url, generic, custom, sql))
            cursor.execute("SET plan_cache_mode = auto")
    return check


def _best_ms(cursor, sql: str, params: list, mode: str) -> float:
    """Planning and execution of the prepared statement under `mode`, best of three."""
    cursor.execute(f"SET plan_cache_mode = {mode}")
    markers = iter(range(1, len(params) + 1))
    prepared = re.sub(r"%s", lambda _: f"${next(markers)}", sql).replace("%%", "%")
    cursor.execute(f"PREPARE benchmark_plan AS {prepared}")
    try:
        raw = connection.connection
        values = ", ".join(psycopg.sql.Literal(p).as_string(raw) for p in params)
        run = "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE benchmark_plan" + (
            f"({values})" if values else ""
        )
        best = float("inf")
        for _ in range(3):
            cursor.execute(run)
            plan = cursor.fetchone()[0][0]
            best = min(best, plan["Execution Time"] + plan.get("Planning Time", 0.0))
        return best
    finally:
        cursor.execute("DEALLOCATE benchmark_plan")
