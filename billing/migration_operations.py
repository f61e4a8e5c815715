"""Migration operations of our own, for the migrations of every app."""

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class OnlineOnPostgres:
    """A migration's index operation CONCURRENTLY on PostgreSQL (a plain CREATE INDEX would
    block every write to the table while it reads it all); the plain operation elsewhere
    (the demo's SQLite). The migration needs `atomic = False`."""

    plain: Any  # the plain operation's class, whose methods run with this operation as self

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(  # type: ignore[misc]
                app_label, schema_editor, from_state, to_state
            )
        return self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(  # type: ignore[misc]
                app_label, schema_editor, from_state, to_state
            )
        return self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexOnline(OnlineOnPostgres, AddIndexConcurrently):
    plain = migrations.AddIndex


class RemoveIndexOnline(OnlineOnPostgres, RemoveIndexConcurrently):
    plain = migrations.RemoveIndex
