import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.audit import AppendOnlyViolation, MissingAuditReason, audited
from accounts.roles import Role
from billing.models import BalanceTransaction, Customer, Refund
from tests.factories import make_customer, make_payment, make_staff

pytestmark = pytest.mark.django_db


def test_history_row_carries_actor_reason_and_ticket(finance_user):
    customer = make_customer(name="Globex Labs")

    with audited(actor=finance_user, reason="Customer asked for the new name", ticket="ZD-48213"):
        customer.name = "Globex Laboratories"
        customer.save()

    latest = customer.history.latest()
    assert latest.history_type == "~"
    assert latest.history_user == finance_user
    assert latest.history_change_reason == "Customer asked for the new name"
    assert latest.history_ticket == "ZD-48213"
    changes = {
        change.field: (change.old, change.new)
        for change in latest.diff_against(latest.prev_record).changes
    }
    assert changes == {"name": ("Globex Labs", "Globex Laboratories")}


def test_a_write_without_an_audit_reason_is_refused():
    customer = make_customer()

    customer.name = "Nameless change"
    with pytest.raises(MissingAuditReason), transaction.atomic():
        customer.save()

    customer.refresh_from_db()
    assert customer.name != "Nameless change"


def test_an_empty_reason_is_refused():
    with pytest.raises(MissingAuditReason), audited(actor=None, reason="   "):
        pass


def test_signing_in_does_not_write_history(client, support_user):
    before = support_user.history.count()

    assert client.login(username="sam", password="correct horse battery staple")

    support_user.refresh_from_db()
    assert support_user.last_login is not None
    assert support_user.history.count() == before


def test_role_changes_are_in_the_users_history(admin_user):
    member = make_staff(Role.SUPPORT)

    with audited(actor=admin_user, reason="Promoted to finance", ticket="HR-12"):
        member.groups.add(Group.objects.get(name=Role.FINANCE))

    latest = member.history.latest()
    assert latest.history_user == admin_user
    assert latest.history_change_reason == "Promoted to finance"
    assert sorted(row.group.name for row in latest.groups.all()) == ["finance", "support"]


def _balance_entry(customer: Customer) -> BalanceTransaction:
    return BalanceTransaction.objects.create(
        customer=customer,
        stripe_balance_transaction_id="cbtxn_test1",
        amount=-500,
        currency="usd",
        ending_balance=-500,
        created=timezone.now(),
    )


def test_a_ledger_row_cannot_be_edited_or_deleted():
    entry = _balance_entry(make_customer())

    entry.amount = -50000
    with pytest.raises(AppendOnlyViolation):
        entry.save()
    with pytest.raises(AppendOnlyViolation):
        entry.delete()
    with pytest.raises(AppendOnlyViolation):
        BalanceTransaction.objects.filter(pk=entry.pk).update(amount=-1)
    with pytest.raises(AppendOnlyViolation):
        BalanceTransaction.objects.filter(pk=entry.pk).delete()

    assert BalanceTransaction.objects.get(pk=entry.pk).amount == -500


def test_a_history_row_cannot_be_edited_through_the_orm(finance_user):
    customer = make_customer()
    row = customer.history.latest()

    row.history_change_reason = "rewritten"
    with pytest.raises(AppendOnlyViolation):
        row.save()
    with pytest.raises(AppendOnlyViolation):
        row.delete()
    with pytest.raises(AppendOnlyViolation):
        customer.history.model.objects.filter(pk=row.pk).update(history_change_reason="x")


def test_postgresql_rejects_update_on_a_history_table():
    customer = make_customer()
    history_id = customer.history.latest().history_id

    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE billing_historicalcustomer SET history_change_reason = 'rewritten' "
            "WHERE history_id = %s",
            [history_id],
        )

    assert customer.history.latest().history_change_reason == "test set-up"


def test_postgresql_rejects_delete_on_history_and_ledger_tables():
    customer = make_customer()
    entry = _balance_entry(customer)
    payment = make_payment(customer)
    with audited(actor=None, reason="test"):
        refund = Refund.objects.create(
            payment=payment,
            stripe_refund_id="re_test1",
            amount=100,
            currency="usd",
            status="succeeded",
            created=timezone.now(),
        )

    for table, key, value in [
        ("billing_historicalcustomer", "id", customer.pk),
        ("billing_balancetransaction", "id", entry.pk),
        ("billing_refund", "id", refund.pk),
    ]:
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"DELETE FROM {table} WHERE {key} = %s", [value])

    assert Refund.objects.filter(pk=refund.pk).exists()
    assert customer.history.count() == 1
