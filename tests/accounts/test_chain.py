"""Every history and ledger table is a hash chain: a row altered behind the app's back (even
by a database superuser with the append-only triggers disabled) is found and named."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from accounts import chain
from accounts.audit import audited
from accounts.models import ChainLink
from billing.models import Customer
from tests.factories import make_customer


def _as_superuser(sql: str, params: list) -> None:
    """What a database superuser could do: switch the append-only triggers off and rewrite."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = origin")


@pytest.mark.django_db
def test_rows_are_sealed_when_their_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        customer = make_customer(name="Initech")

    row = customer.history.get()
    link = ChainLink.objects.get(table="billing_historicalcustomer", row_id=row.history_id)
    assert len(link.digest) == 64
    assert chain.verify().broken is None


@pytest.mark.django_db
def test_audit_verify_prints_rows_and_time_and_exits_0_when_intact(capsys):
    make_customer()
    chain.seal_unsealed()

    call_command("audit_verify")

    out = capsys.readouterr().out
    assert "rows in" in out
    assert "verified in" in out
    assert "every chain is intact" in out


@pytest.mark.django_db
def test_a_row_altered_with_the_triggers_disabled_fails_verification_naming_it(finance_user):
    customer = make_customer(name="Globex")
    with audited(actor=finance_user, reason="Renamed at the customer's request"):
        customer.name = "Globex Corp"
        customer.save()
    chain.seal_unsealed()
    first = customer.history.earliest()
    assert chain.verify().broken is None

    _as_superuser(
        "UPDATE billing_historicalcustomer SET name = 'Someone else' WHERE history_id = %s",
        [first.history_id],
    )

    result = chain.verify()
    assert result.broken == chain.Broken(
        "billing_historicalcustomer",
        first.history_id,
        "the row does not match its hash (altered)",
    )
    with pytest.raises(CommandError, match=f"billing_historicalcustomer row {first.history_id}"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_a_deleted_row_is_found():
    customer = make_customer()
    chain.seal_unsealed()
    row = customer.history.get()

    _as_superuser("DELETE FROM billing_historicalcustomer WHERE history_id = %s", [row.history_id])

    assert chain.verify().broken == chain.Broken(
        "billing_historicalcustomer", row.history_id, "the row was deleted"
    )


def test_concurrent_inserts_from_several_threads_keep_the_chain_valid(committed_db):
    threads_count, per_thread = 6, 8
    barrier = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with transaction.atomic(durable=True):
                    make_customer(name=f"Thread {n} customer {i}")
        except BaseException as error:  # reported by the assertion below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert Customer.objects.filter(name__startswith="Thread ").count() == threads_count * per_thread
    history = Customer.history.model
    assert chain.unsealed(history).count() == 0
    # This chain only: the rows the test set-up restored lost their microseconds on the way
    # (Django's JSON serialiser keeps milliseconds), so theirs rightly no longer verify.
    rows, broken = chain.verify_chain(history)
    assert broken is None
    assert rows == threads_count * per_thread
