"""Revisions of what a customer's page shows, kept by PostgreSQL in the writing transaction.

Every statement that writes a row the customer page shows (the customer, its subscriptions,
invoices, payments, refunds, balance, overrides, actions, approvals, sync problems, tickets and
notes) sets that customer's revision, in its own transaction, to a fresh value of one sequence.
Writes to what every customer's page shows (plans, prices and their entitlements, staff names)
set scope 0's. A trigger does it, so no code path (a service, the Stripe mirror, a migration,
raw SQL) can write without it.

A sequence's value is never handed out twice, even by a transaction that rolls back, so a
revision names one committed state of a customer's rows and no other: a page rendered at a
revision is that state's page (or a newer one, since the rows are read after the revision),
and any later commit changes the revision before anyone can read it. The page cache
(`support.page_cache`) keys on it.

PostgreSQL only: elsewhere (the demo's SQLite) `current()` answers None and nothing is cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, migrations

GLOBAL_SCOPE = 0
TABLE = "billing_page_revision"
SEQUENCE = "billing_page_revision_seq"

_TABLE_SQL = f"""
CREATE SEQUENCE IF NOT EXISTS {SEQUENCE};
CREATE TABLE IF NOT EXISTS {TABLE} (scope bigint PRIMARY KEY, revision bigint NOT NULL);
"""


def _bump_sql(scopes: str) -> str:
    """Set each scope `scopes` selects to a fresh revision, in scope order (two writers of the
    same customers take their revision rows' locks in one order)."""
    return (
        f"INSERT INTO {TABLE} AS r (scope, revision) "
        f"SELECT scope, nextval('{SEQUENCE}') FROM "
        f"(SELECT DISTINCT scope FROM ({scopes}) AS s (scope) WHERE scope IS NOT NULL "
        "ORDER BY scope) AS changed "
        "ON CONFLICT (scope) DO UPDATE SET revision = EXCLUDED.revision"
    )


def _function_name(table: str) -> str:
    return f"page_revision_{table}"


def _trigger_name(event: str) -> str:
    return f"page_revision_{event.lower()}"


def _customer_function(table: str, scopes: str) -> str:
    """A statement trigger's function bumping the customers of the rows written. `scopes` is a
    SELECT of customer ids over the table `{rows}`: the statement's new rows, its old rows, or
    both (an UPDATE may move a row from one customer to another)."""
    new, old = scopes.format(rows="new_rows"), scopes.format(rows="old_rows")
    return f"""
CREATE OR REPLACE FUNCTION {_function_name(table)}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_bump_sql(new)};
    ELSIF TG_OP = 'DELETE' THEN
        {_bump_sql(old)};
    ELSE
        {_bump_sql(f"{new} UNION ALL {old}")};
    END IF;
    RETURN NULL;
END
$$;
"""


_GLOBAL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION page_revision_global() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_bump_sql(f"SELECT {GLOBAL_SCOPE}")};
    RETURN NULL;
END
$$;
"""

_REFERENCING = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}


def revision_triggers(
    customer_tables: dict[str, str] | None = None,
    global_tables: dict[str, tuple[str, ...]] | None = None,
) -> migrations.RunPython:
    """A migration operation installing the revision triggers (PostgreSQL only).

    `customer_tables`: each table and a SELECT of its rows' customer ids over `{rows}`.
    `global_tables`: each table whose writes change every customer's page, with the columns
    that matter (none: every write)."""
    customer_tables = customer_tables or {}
    global_tables = global_tables or {}

    def install(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(_TABLE_SQL, params=None)
        schema_editor.execute(_GLOBAL_FUNCTION, params=None)
        for table, scopes in customer_tables.items():
            quoted = schema_editor.quote_name(table)
            schema_editor.execute(_customer_function(table, scopes), params=None)
            for event, referencing in _REFERENCING.items():
                name = _trigger_name(event)
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {quoted}")
                schema_editor.execute(
                    f"CREATE TRIGGER {name} AFTER {event} ON {quoted} {referencing} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {_function_name(table)}()"
                )
        for table, columns in global_tables.items():
            quoted = schema_editor.quote_name(table)
            update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
            schema_editor.execute(f"DROP TRIGGER IF EXISTS page_revision_global ON {quoted}")
            schema_editor.execute(
                f"CREATE TRIGGER page_revision_global AFTER INSERT OR {update} OR DELETE "
                f"ON {quoted} FOR EACH STATEMENT EXECUTE FUNCTION page_revision_global()"
            )

    def uninstall(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in customer_tables:
            quoted = schema_editor.quote_name(table)
            for event in _REFERENCING:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(event)} ON {quoted}")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {_function_name(table)}()")
        for table in global_tables:
            quoted = schema_editor.quote_name(table)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS page_revision_global ON {quoted}")

    return migrations.RunPython(install, uninstall, elidable=False)


@dataclass(frozen=True)
class Revision:
    """The state of one customer's page: its own revision and every page's (0 where nothing
    was written since the triggers were installed)."""

    customer: int
    shared: int


class NoSuchCustomer(Exception):
    pass


CURRENT_SQL = (
    "SELECT coalesce(own.revision, 0), coalesce(shared.revision, 0) "
    "FROM billing_customer AS c "
    f"LEFT JOIN {TABLE} AS own ON own.scope = c.id "
    f"LEFT JOIN {TABLE} AS shared ON shared.scope = {GLOBAL_SCOPE} "
    "WHERE c.id = %s"
)


def current(customer_id: int) -> Revision | None:
    """The customer's page revision now (one indexed read), None where revisions are not kept.
    Raises NoSuchCustomer for an id no customer has. Read it before the rows it covers."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(CURRENT_SQL, [customer_id])
        row = cursor.fetchone()
    if row is None:
        raise NoSuchCustomer(customer_id)
    return Revision(customer=row[0], shared=row[1])
