"""The demo runs on SQLite (README, "Run the demo"), the suite on PostgreSQL: the pages that
read with hand-written SQL (the customer timeline, the global audit log and its export, the
ticket queue's open tickets) are run once on a SQLite database of their own, in a process of
their own."""

import os
import subprocess
import sys
import textwrap

from tests.test_settings import PRODUCTION, ROOT, TEST_ONLY

SCRIPT = textwrap.dedent(
    """
    from django.test import Client
    from accounts.roles import Role
    from support import timeline
    from tests.factories import (
        make_customer, make_invoice, make_payment, make_staff, make_subscription, make_ticket,
    )

    customer = make_customer()
    make_subscription(customer)
    make_payment(customer, invoice=make_invoice(customer))
    open_ticket = make_ticket(customer)
    solved = make_ticket(customer, status="solved")
    first = timeline.timeline(customer, size=2)
    second = timeline.timeline(customer, before=first.next_cursor, size=2)
    seen = [entry.cursor for entry in first.entries + second.entries]
    print("timeline", len(first.entries), len(second.entries), len(set(seen)))

    client = Client(SERVER_NAME="localhost")
    client.force_login(make_staff(Role.AUDITOR))
    for url in (
        f"/customers/{customer.pk}/",
        f"/customers/{customer.pk}/?partial=timeline",
        f"/customers/{customer.pk}/?partial=timeline&before={first.next_cursor}",
        "/audit/?everyone=1",
        "/audit/?everyone=1&ticket=ZD-1",
        "/audit/export.csv?everyone=1",
    ):
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        print("page", response.status_code, len(body), url)

    from django.db import connection
    from support.models import Ticket

    support = Client(SERVER_NAME="localhost")
    support.force_login(make_staff(Role.SUPPORT))
    queue = support.get("/tickets/?view=all").content.decode()
    print("queue", open_ticket.external_ref in queue, solved.external_ref in queue)
    sql, params = Ticket.objects.unsolved().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        print("plan", " | ".join(str(row[-1]) for row in cursor.fetchall()))
    """
)


def test_the_timeline_and_the_audit_log_work_on_the_demos_sqlite(tmp_path):
    clean = {
        name: value for name, value in os.environ.items() if name not in (*PRODUCTION, *TEST_ONLY)
    }
    env = {
        **clean,
        "DJANGO_SETTINGS_MODULE": "billing.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "MFA_REQUIRED_ROLES": "",
    }

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    migrated = manage("migrate", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stderr
    result = manage("shell", "-c", SCRIPT)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Two pages of two entries, no entry twice.
    assert "timeline 2 2 4" in lines, result.stdout
    pages = [line.split() for line in lines if line.startswith("page ")]
    assert len(pages) == 6, result.stdout
    assert all(status == "200" for _, status, _, _ in pages), result.stdout
    # The queue lists the open ticket, not the solved one, read in order from the index of
    # open tickets (not all of them sorted).
    assert "queue True False" in lines, result.stdout
    [plan] = [line for line in lines if line.startswith("plan ")]
    assert "ticket_unsolved_created" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
