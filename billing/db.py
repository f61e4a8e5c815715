"""The app's part in keeping its database connections usable, beyond Django's own checks."""

import sys

from django.db import connections
from django.db.utils import NotSupportedError

# PostgreSQL's words when a statement prepared on a connection (settings:
# DB_PREPARED_STATEMENTS) reads a column whose type a migration has changed since.
STALE_PLAN = "cached plan must not change result type"


def is_stale_plan(error: BaseException | None) -> bool:
    return isinstance(error, NotSupportedError) and STALE_PLAN in str(error)


def replace_stale_connections(sender, **kwargs) -> None:
    """On `got_request_exception`: a request failed on a statement prepared before a
    migration. Its connection keeps failing so until closed (psycopg prepares anew only on a
    new connection), so close it: the next request opens a fresh one."""
    if is_stale_plan(sys.exc_info()[1]):
        for connection in connections.all(initialized_only=True):
            connection.close()
