"""A statement prepared on a connection (DB_PREPARED_STATEMENTS) fails once a migration has
changed the type of a column it reads; the connection is then replaced, not kept failing."""

import psycopg
import pytest
from django.core.signals import got_request_exception
from django.db import connection
from django.db.utils import NotSupportedError

from billing.db import is_stale_plan


@pytest.fixture
def probe_table(committed_db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE stale_plan_probe (id integer, code varchar(8))")
        cursor.execute("INSERT INTO stale_plan_probe VALUES (1, 'a')")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE stale_plan_probe")


def read_probe():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, code FROM stale_plan_probe WHERE id = %s", [1])
        return cursor.fetchall()


def migrate_probe_elsewhere():
    """The migration, as another process runs it: its own connection."""
    params = connection.get_connection_params()
    params.pop("context", None)
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("ALTER TABLE stale_plan_probe ALTER COLUMN code TYPE varchar(16)")


def test_a_connection_whose_prepared_statement_went_stale_is_replaced(probe_table):
    for _ in range(3):  # prepared from the second run
        assert read_probe() == [(1, "a")]
    migrate_probe_elsewhere()

    stale = connection.connection
    with pytest.raises(NotSupportedError) as raised:
        read_probe()
    assert is_stale_plan(raised.value), raised.value
    try:  # Django sends the signal while it handles the request's exception
        raise raised.value
    except NotSupportedError:
        got_request_exception.send(sender=None, request=None)

    assert connection.connection is None or connection.connection is not stale
    assert read_probe() == [(1, "a")]  # a new connection, prepared anew
