"""The timeline's keys query is served by indexes on PostgreSQL, on the first page and deep in
a long history: each source is read through its index on (customer, time, id) from the
cursor on, each history row's previous version is an index probe on its object, and the
sources are merged in order rather than sorted whole. The plan is EXPLAINed with sequential
scans, bitmap scans and sorts priced out (a tiny table is otherwise always scanned, which says
nothing about a big one)."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support import timeline
from tests.factories import make_customer, make_payment, make_subscription, make_ticket

pytestmark = pytest.mark.django_db

HISTORIED = [source for source in timeline.SOURCES if source.historied]


def time_index(source: timeline._Source) -> str:
    """The history's index on (customer, time, id) (accounts.audit.AuditedHistory)."""
    [name] = [index.name for index in source.table._meta.indexes if index.name.endswith("_time")]
    return name


def keys_query_plan(customer, before: str | None = None) -> dict[str, Any]:
    with CaptureQueriesContext(connection) as captured:
        timeline.timeline(customer, before=before)
    keys_query = captured.captured_queries[0]["sql"]
    # Scans that give no order, and sorting, priced out: on these tiny tables (whose statistics
    # other tests leave behind) a bitmap scan and a sort may cost as little as reading an index
    # in order. What is checked is that the branches can be read in order and merged.
    settings = ("enable_seqscan", "enable_bitmapscan", "enable_sort")
    with connection.cursor() as cursor:
        for setting in settings:
            cursor.execute(f"SET {setting} = off")
        try:
            cursor.execute("EXPLAIN (FORMAT JSON) " + keys_query)
            [[[plan]]] = cursor.fetchall()
        finally:
            for setting in settings:
                cursor.execute(f"SET {setting} = on")
    return plan["Plan"]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def index_conditions(plan: dict[str, Any]) -> dict[str, str]:
    """Each index the plan reads, with its index condition."""
    return {
        node["Index Name"]: node.get("Index Cond", "")
        for node in nodes(plan)
        if "Index Name" in node
    }


def probes_by_object(plan: dict[str, Any], table: str) -> bool:
    """Whether the plan looks rows of `table` up by the outer row's object id, in an index."""
    return any(
        node.get("Relation Name") == table and "(id = t" in node.get("Index Cond", "")
        for node in nodes(plan)
    )


@pytest.fixture
def customer():
    customer = make_customer()
    make_subscription(customer)
    make_payment(customer)
    make_ticket(customer)
    return customer


def test_the_first_page_reads_every_source_through_its_customer_and_time_index(customer):
    plan = keys_query_plan(customer)

    scans = index_conditions(plan)
    for source in HISTORIED:
        assert time_index(source) in scans, (source.label, scans)
        # The previous version: the (object, history id) index on a big table; on these
        # small ones PostgreSQL may as well take the plain index on the object.
        assert probes_by_object(plan, source.table._meta.db_table), source.label
    assert "stripeevent_customer_created" in scans
    kinds = {node["Node Type"] for node in nodes(plan)}
    assert "Seq Scan" not in kinds
    assert "Merge Append" in kinds  # merged in order: no source is read beyond the page


def test_a_deep_page_seeks_to_the_cursor_instead_of_filtering_the_newer_rows(customer):
    plan = keys_query_plan(customer, before="2025-06-01T00:00:00+00:00|billing.customer|0")

    scans = index_conditions(plan)
    for source in HISTORIED:
        condition = scans[time_index(source)]
        assert "history_date" in condition, (source.label, condition)
    assert "created" in scans["stripeevent_customer_created"]
