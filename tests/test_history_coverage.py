"""Every model of our apps is either historied or an append-only ledger, and on PostgreSQL
every history and ledger table carries the trigger that rejects UPDATE and DELETE."""

import pytest
from django.apps import apps
from django.db import connection, models
from django.test.utils import isolate_apps

from accounts.audit import (
    APPEND_ONLY_TRIGGER,
    AppendOnlyModel,
    is_append_only,
    is_historied,
    is_history_model,
)

OUR_APPS = ("accounts", "billing", "support")


def our_models(*, include_auto_created: bool = False):
    for label in OUR_APPS:
        yield from apps.get_app_config(label).get_models(include_auto_created=include_auto_created)


def m2m_tracked_by_history(through_model) -> bool:
    """An auto-created many-to-many table whose owner's history snapshots that relation."""
    for field in through_model._meta.get_fields():
        owner = getattr(field, "related_model", None)
        if owner is None or not is_historied(owner):
            continue
        tracked = owner.history.model._history_m2m_fields  # type: ignore[attr-defined]
        if any(m2m.remote_field.through is through_model for m2m in tracked):
            return True
    return False


def uncovered(models) -> list[str]:
    found = []
    for model in models:
        if is_history_model(model) or is_historied(model) or is_append_only(model):
            continue
        if model._meta.auto_created and m2m_tracked_by_history(model):
            continue
        found.append(model._meta.label)
    return found


def test_every_model_is_historied_or_append_only():
    missing = uncovered(our_models(include_auto_created=True))

    assert missing == [], f"Neither historied nor an append-only ledger: {missing}"


@isolate_apps("billing")
def test_the_coverage_check_catches_a_plain_model():
    class Scratch(models.Model):
        class Meta:
            app_label = "billing"

    class ScratchLedger(AppendOnlyModel):
        class Meta:
            app_label = "billing"

    assert uncovered([Scratch, ScratchLedger]) == ["billing.Scratch"]


def append_only_tables() -> set[str]:
    return {model._meta.db_table for model in our_models() if is_append_only(model)}


def test_ledgers_and_history_tables_are_append_only_models():
    tables = append_only_tables()

    assert {"billing_refund", "billing_balancetransaction"} <= tables
    assert "billing_historicalcustomer" in tables
    assert "accounts_historicaluser_groups" in tables
    assert "billing_customer" not in tables


@pytest.mark.django_db
def test_every_append_only_table_has_the_postgresql_trigger():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s AND NOT t.tgisinternal",
            [APPEND_ONLY_TRIGGER],
        )
        guarded = {row[0] for row in cursor.fetchall()}

    assert append_only_tables() - guarded == set()
