""" "Resync from Stripe" and "Compare with Stripe" are limited per staff member, so nobody can
spend the Stripe rate limit that money actions need."""

import pytest

from accounts.roles import Role
from billing.models import StripeRead
from billing.stripe import budget, gateway
from tests.billing.conftest import mirrored_account
from tests.factories import make_staff


@pytest.fixture
def account(db, stripe_emulator):
    return mirrored_account()


def test_a_sixth_resync_within_ten_minutes_is_refused_and_asks_stripe_nothing(
    client, account, support_user, stripe_emulator
):
    client.force_login(support_user)
    url = f"/customers/{account.customer.pk}/resync/"
    for _ in range(budget.BUDGET["resync"]):
        assert client.post(url).status_code == 302
    # A fault the next read of the customer would consume: it is still there afterwards.
    stripe_emulator.add_fault("/v1/customers/", "500", method="GET")

    refused = client.post(url, follow=True)

    assert "next is possible in about" in refused.text
    assert StripeRead.objects.filter(user=support_user, kind="resync").count() == 5
    with pytest.raises(gateway.StripeUnavailable):
        gateway.retrieve_customer(account.customer.stripe_customer_id)


def test_comparing_is_limited_too_and_each_staff_member_has_their_own_budget(
    client, account, support_user, stripe_emulator
):
    client.force_login(support_user)
    url = f"/customers/{account.customer.pk}/drift/"
    for _ in range(budget.BUDGET["compare"]):
        assert "next is possible" not in client.get(url).text

    assert "next is possible in about" in client.get(url).text
    client.force_login(make_staff(Role.SUPPORT))
    assert "next is possible" not in client.get(url).text
