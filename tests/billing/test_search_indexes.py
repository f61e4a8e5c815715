"""Every lookup of the search box (SPEC §6) is served by an index on PostgreSQL."""

import pytest
from django.db import connection

from billing.models import Customer

pytestmark = pytest.mark.django_db

QUERIES = [
    "ap@globex.com",  # email prefix
    "globex.com",  # domain (and name/handle)
    "Globex Corp",  # name contains
    "glob",  # handle prefix
    "cus_Globex123",
    "sub_Globex123",
    "in_Globex123",
    "ch_Globex123",
    "pi_Globex123",
    "re_Globex123",
    "GLBX-00042",  # invoice number
    "1881",  # card last4
]


@pytest.mark.parametrize("query", QUERIES)
def test_search_uses_indexes_not_table_scans(query):
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        plan = Customer.objects.search(query).order_by("name", "id")[:51].explain()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = on")

    assert "Seq Scan" not in plan, plan
    assert "Index" in plan, plan
