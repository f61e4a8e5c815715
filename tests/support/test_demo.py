import datetime as dt
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import User
from billing.demo import customer_profiles
from billing.models import (
    BalanceTransaction,
    Customer,
    Invoice,
    Payment,
    PaymentStatus,
    Refund,
    Subscription,
)
from support.management.commands.demo import DEMO_PASSWORD
from support.models import Ticket

pytestmark = pytest.mark.django_db


def test_demo_refuses_to_run_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("demo", "--no-serve")


def test_demo_seeds_varied_realistic_data_and_prints_the_logins(settings, capsys):
    settings.DEBUG = True

    call_command("demo", "--no-serve", "--customers", "120")

    output = capsys.readouterr().out
    assert f"password {DEMO_PASSWORD}" in output
    for role in ("support", "finance", "admin", "auditor"):
        user = User.objects.get(username=role)
        assert user.check_password(DEMO_PASSWORD)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert f"  {role}" in output
    assert Customer.objects.count() == 120
    plans = Counter(Subscription.objects.values_list("price__plan__code", flat=True))
    assert set(plans) == {"free", "personal", "team", "business"}
    assert set(Subscription.objects.values_list("price__interval", flat=True)) == {"month", "year"}
    statuses = set(Subscription.objects.values_list("status", flat=True))
    assert {"active", "trialing", "past_due", "canceled"} <= statuses
    assert set(Customer.objects.values_list("currency", flat=True)) >= {"usd", "eur", "gbp"}
    assert Invoice.objects.count() > 300
    assert Payment.objects.filter(status=PaymentStatus.FAILED).exists()
    assert Refund.objects.exists()
    assert BalanceTransaction.objects.filter(amount__lt=0).exists()
    assert Ticket.objects.count() > 20
    assert Ticket.objects.filter(assignee__isnull=True).exists()
    # Refunded amounts agree with the refund ledger.
    for payment in Payment.objects.filter(amount_refunded__gt=0):
        assert payment.refunds.net_amount() == payment.amount_refunded
    assert "Seeded 120 customers" in output


def test_a_second_run_keeps_the_data(settings, capsys):
    settings.DEBUG = True
    call_command("demo", "--no-serve", "--customers", "30")

    call_command("demo", "--no-serve")

    assert Customer.objects.count() == 30
    assert "already present (30 customers)" in capsys.readouterr().out


def test_profiles_are_deterministic_for_a_seed():
    now = timezone.now()

    first = customer_profiles(50, seed=7, now=now)
    second = customer_profiles(50, seed=7, now=now)

    assert [(p.handle, p.plan_code, len(p.invoices)) for p in first] == [
        (p.handle, p.plan_code, len(p.invoices)) for p in second
    ]
    assert len({p.handle for p in first}) == 50
    assert all(p.created < now + dt.timedelta(seconds=1) for p in first)
