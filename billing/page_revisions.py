"""Revisions of what a customer's page shows, kept by PostgreSQL in the writing transaction.

Every statement that writes a row the customer page shows (the customer, its subscriptions,
invoices, payments, refunds, balance, overrides, actions, approvals, sync problems, tickets and
notes) notes its customers; as its transaction commits, each noted customer's revision is set
to a fresh value of one sequence. Writes to what every customer's page shows (plans, prices
and their entitlements, staff names, and a TRUNCATE of any of these tables) note scope 0. A
trigger does it, so no code path (a service, the Stripe mirror, a migration, raw SQL) can
write without it.

A sequence's value is never handed out twice, even by a transaction that rolls back, so a
revision names one committed state of a customer's rows and no other: a page rendered at a
revision is that state's page (or a newer one, since the rows are read after the revision),
and a commit changes the revision in the same instant as the rows. The page cache
(`support.page_cache`) keys on it.

Why at commit: a revision row is locked from its update to the transaction's end. Updated by
the writing statement, it would be held through the rest of a long transaction (a resync
writing a customer's rows one by one) while that transaction waits for a row another writer
of the same customer holds, and that writer would then wait for the revision: a deadlock
neither had before. Noted in a table of each transaction's own rows and applied by a deferred
trigger, the revisions are locked only while the transaction commits, all at once and in
scope order, when it waits for nothing else.

PostgreSQL only: elsewhere (the demo's SQLite) `current()` answers None and nothing is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, migrations

GLOBAL_SCOPE = 0
TABLE = "billing_page_revision"
PENDING = "billing_page_revision_pending"
SEQUENCE = "billing_page_revision_seq"

_TABLES_SQL = f"""
CREATE SEQUENCE IF NOT EXISTS {SEQUENCE};
CREATE TABLE IF NOT EXISTS {TABLE} (scope bigint PRIMARY KEY, revision bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {PENDING} (
    txid bigint NOT NULL, scope bigint NOT NULL, PRIMARY KEY (txid, scope)
);
CREATE OR REPLACE FUNCTION page_revision_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The first of the transaction's deferred events applies all it noted; the rest find
    -- nothing left.
    WITH noted AS (DELETE FROM {PENDING} WHERE txid = txid_current() RETURNING scope)
    INSERT INTO {TABLE} AS r (scope, revision)
    SELECT scope, nextval('{SEQUENCE}') FROM (SELECT DISTINCT scope FROM noted ORDER BY scope) s
    ON CONFLICT (scope) DO UPDATE SET revision = EXCLUDED.revision;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS page_revision_at_commit ON {PENDING};
CREATE CONSTRAINT TRIGGER page_revision_at_commit AFTER INSERT ON {PENDING}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION page_revision_at_commit();
CREATE OR REPLACE FUNCTION page_revision_everyone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {PENDING} (txid, scope) VALUES (txid_current(), {GLOBAL_SCOPE})
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
"""


def _note_sql(scopes: str) -> str:
    """Note, for this transaction, each scope `scopes` selects."""
    return (
        f"INSERT INTO {PENDING} (txid, scope) "
        "SELECT txid_current(), scope FROM "
        f"(SELECT DISTINCT scope FROM ({scopes}) AS s (scope) WHERE scope IS NOT NULL) AS c "
        "ON CONFLICT DO NOTHING"
    )


def of_rows(scopes: str) -> dict[str, str]:
    """The scopes of a statement's rows, for each event: `scopes` is a SELECT of scopes over the
    table `{rows}`, run over the new rows, the old rows, or both (an UPDATE may move a row from
    one customer to another)."""
    new, old = scopes.format(rows="new_rows"), scopes.format(rows="old_rows")
    return {"INSERT": new, "UPDATE": f"{new} UNION ALL {old}", "DELETE": old}


_REFERENCING = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}


def _name(table: str, event: str) -> str:
    return f"page_revision_{table}_{event.lower()}"


def revision_triggers(tables: dict[str, dict[str, str]]) -> migrations.RunPython:
    """A migration operation installing the revision triggers (PostgreSQL only): for each
    table, each event's SELECT of the scopes its rows change (see `of_rows`), and a TRUNCATE,
    which names no rows, changing everyone's."""

    def install(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(_TABLES_SQL, params=None)
        for table, events in tables.items():
            quoted = schema_editor.quote_name(table)
            for event, scopes in events.items():
                name = _name(table, event)
                schema_editor.execute(
                    f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN {_note_sql(scopes)}; RETURN NULL; END $$",
                    params=None,
                )
                schema_editor.execute(
                    f"CREATE OR REPLACE TRIGGER {name} AFTER {event} ON {quoted} "
                    f"{_REFERENCING[event]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
                )
            schema_editor.execute(
                f"CREATE OR REPLACE TRIGGER {_name(table, 'truncate')} AFTER TRUNCATE ON {quoted} "
                "FOR EACH STATEMENT EXECUTE FUNCTION page_revision_everyone()"
            )

    def uninstall(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, events in tables.items():
            quoted = schema_editor.quote_name(table)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table, 'truncate')} ON {quoted}")
            for event in events:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table, event)} ON {quoted}")
                schema_editor.execute(f"DROP FUNCTION IF EXISTS {_name(table, event)}()")

    return migrations.RunPython(install, uninstall, elidable=False)


@dataclass(frozen=True)
class Revision:
    """The state of one customer's page: its own revision and every page's (0 where nothing
    was written since the triggers were installed), and when the database server started (a
    restored or promoted server may hand out a revision again)."""

    customer: int
    shared: int
    server: int  # microseconds since 1970


class NoSuchCustomer(Exception):
    pass


CURRENT_SQL = (
    "SELECT coalesce(own.revision, 0), coalesce(shared.revision, 0), "
    "(extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint, "
    f"EXISTS (SELECT FROM {PENDING} WHERE txid = txid_current_if_assigned()) "
    "FROM billing_customer AS c "
    f"LEFT JOIN {TABLE} AS own ON own.scope = c.id "
    f"LEFT JOIN {TABLE} AS shared ON shared.scope = {GLOBAL_SCOPE} "
    "WHERE c.id = %s"
)


def current(customer_id: int) -> Revision | None:
    """The customer's page revision now (one indexed read); None where nothing may be kept:
    no revisions here, or this transaction has written rows not committed yet (it would see
    them, and the revision not yet). Raises NoSuchCustomer for an id no customer has. Read it
    before the rows it covers."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(CURRENT_SQL, [customer_id])
        row = cursor.fetchone()
    if row is None:
        raise NoSuchCustomer(customer_id)
    own, shared, server, uncommitted = row
    if uncommitted:
        return None
    return Revision(customer=own, shared=shared, server=server)
