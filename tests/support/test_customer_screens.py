import pytest
from django.utils import timezone

from accounts.audit import audited
from billing.models import BalanceTransaction, EntitlementOverride, Feature, Refund
from tests.factories import (
    make_customer,
    make_invoice,
    make_payment,
    make_subscription,
    make_ticket,
)

pytestmark = pytest.mark.django_db

# The results as they come while typing (a submitted exact hit opens the customer instead).
AS_YOU_TYPE = {"HX-Request": "true"}


@pytest.fixture
def globex():
    customer = make_customer(
        name="Globex Corporation",
        handle="globex",
        billing_email="ap@globex.com",
        email_domain="globex.com",
        stripe_customer_id="cus_Globex123",
    )
    subscription = make_subscription(customer, quantity=12)
    invoice = make_invoice(customer, number="GLBX-00042")
    payment = make_payment(customer, invoice=invoice, card_last4="1881", amount=14400)
    with audited(actor=None, reason="test"):
        Refund.objects.create(
            payment=payment,
            stripe_refund_id="re_Globex1",
            amount=1200,
            currency="usd",
            status="succeeded",
            created=timezone.now(),
        )
        payment.amount_refunded = 1200
        payment.save()
    return {
        "customer": customer,
        "subscription": subscription,
        "invoice": invoice,
        "payment": payment,
    }


@pytest.fixture
def someone_else():
    return make_customer(
        name="Initech",
        handle="initech",
        billing_email="billing@initech.io",
        email_domain="initech.io",
    )


@pytest.mark.parametrize(
    "query",
    [
        "ap@globex.com",
        "AP@globex",
        "globex.com",
        "Globex Corp",
        "corporation",
        "glob",
        "cus_Globex123",
        "re_Globex1",
        "GLBX-00042",
        "1881",
    ],
)
def test_search_finds_a_customer_by_each_lookup(client, support_user, globex, someone_else, query):
    client.force_login(support_user)

    response = client.get("/customers/", {"q": query}, headers=AS_YOU_TYPE)

    assert [c.pk for c in response.context["results"]] == [globex["customer"].pk]


def test_search_by_subscription_invoice_charge_and_intent_ids(
    client, support_user, globex, someone_else
):
    client.force_login(support_user)
    ids = [
        globex["subscription"].stripe_subscription_id,
        globex["invoice"].stripe_invoice_id,
        globex["payment"].stripe_charge_id,
        globex["payment"].stripe_payment_intent_id,
    ]

    for stripe_id in ids:
        results = client.get("/customers/", {"q": stripe_id}, headers=AS_YOU_TYPE).context[
            "results"
        ]
        assert [c.pk for c in results] == [globex["customer"].pk], stripe_id


def test_search_with_no_match_says_so(client, support_user, globex):
    client.force_login(support_user)

    response = client.get("/customers/", {"q": "cus_doesnotexist"})

    assert response.context["results"] == []
    assert "No customer matches" in response.content.decode()


def test_htmx_search_returns_only_the_results_partial(client, support_user, globex):
    client.force_login(support_user)

    response = client.get("/customers/", {"q": "globex"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="results">')
    assert "<html" not in html
    assert "Globex Corporation" in html


def test_customer_page_shows_the_whole_billing_picture(client, support_user, globex):
    customer = globex["customer"]
    with audited(actor=None, reason="test"):
        BalanceTransaction.objects.create(
            customer=customer,
            stripe_balance_transaction_id="cbtxn_g1",
            amount=-2500,
            currency="usd",
            description="Outage credit",
            ending_balance=-2500,
            created=timezone.now(),
        )
        EntitlementOverride.objects.create(
            customer=customer,
            feature=Feature.BUILD_MINUTES,
            value="25000",
            starts_at=timezone.now() - timezone.timedelta(days=1),
            expires_at=timezone.now() + timezone.timedelta(days=6),
            reason="Outage",
        )
    make_ticket(customer, ref="ZD-777")
    client.force_login(support_user)

    response = client.get(f"/customers/{customer.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "$25.00 credit" in html
    assert "GLBX-00042" in html
    assert "$144.00" in html  # the payment
    assert "$132.00" in html  # refundable after the $12.00 refund
    assert "re_Globex1" in html
    assert "ZD-777" in html
    entitlements = {e.feature: (e.value, e.source) for e in response.context["entitlements"]}
    assert entitlements[Feature.SEATS] == ("12", "Team plan, seats bought")
    assert entitlements[Feature.BUILD_MINUTES][0] == "25000"
    assert entitlements[Feature.BUILD_MINUTES][1].startswith("Override until")
    assert entitlements[Feature.SSO] == ("false", "Team plan")


def test_customer_page_query_count_does_not_grow_with_rows(
    client, support_user, django_assert_max_num_queries
):
    customer = make_customer()
    make_subscription(customer)
    for _ in range(15):
        invoice = make_invoice(customer)
        make_payment(customer, invoice=invoice)
        make_ticket(customer)
    client.force_login(support_user)

    with django_assert_max_num_queries(20):
        response = client.get(f"/customers/{customer.pk}/")

    assert response.status_code == 200


def test_long_sections_of_the_customer_page_come_in_pages_of_20(client, support_user):
    customer = make_customer()
    invoices = [make_invoice(customer) for _ in range(25)]
    payments = [make_payment(customer, invoice=invoice) for invoice in invoices]
    client.force_login(support_user)

    first = client.get(f"/customers/{customer.pk}/")
    second = client.get(f"/customers/{customer.pk}/", {"partial": "payments", "payments_page": 2})

    newest_first = sorted(payments, key=lambda p: (p.created, p.pk), reverse=True)
    assert [p.pk for p in first.context["payments"]] == [p.pk for p in newest_first[:20]]
    assert len(first.context["invoices"]) == 20
    assert "?invoices_page=2" in first.content.decode()
    assert [p.pk for p in second.context["payments"]] == [p.pk for p in newest_first[20:]]
    html = second.content.decode()
    assert "Older" not in html
    assert "payments_page=1" in html


def test_each_payments_refunds_show_under_it_on_its_own_page_newest_first(client, support_user):
    customer = make_customer()
    payments = [make_payment(customer, amount=10_000) for _ in range(22)]
    newest_first = sorted(payments, key=lambda p: (p.created, p.pk), reverse=True)
    on_first, on_second = newest_first[3], newest_first[21]
    other_customer_payment = make_payment(make_customer(), amount=10_000)
    now = timezone.now()
    with audited(actor=None, reason="test"):
        for payment, ref, amount, minutes in [
            (on_first, "re_first_older", 100, 10),
            (on_first, "re_first_newer", 200, 5),
            (on_second, "re_second", 300, 1),
            (other_customer_payment, "re_not_theirs", 400, 1),
        ]:
            Refund.objects.create(
                payment=payment,
                stripe_refund_id=ref,
                amount=amount,
                currency="usd",
                status="succeeded",
                created=now - timezone.timedelta(minutes=minutes),
            )
    client.force_login(support_user)

    first = client.get(f"/customers/{customer.pk}/")
    second = client.get(f"/customers/{customer.pk}/", {"partial": "payments", "payments_page": 2})

    shown = {p.pk: [r.stripe_refund_id for r in p.page_refunds] for p in first.context["payments"]}
    assert shown[on_first.pk] == ["re_first_newer", "re_first_older"]
    assert all(refunds == [] for pk, refunds in shown.items() if pk != on_first.pk)
    [(pk, refunds)] = [(p.pk, p.page_refunds) for p in second.context["payments"] if p.page_refunds]
    assert (pk, [r.stripe_refund_id for r in refunds]) == (on_second.pk, ["re_second"])
    first_html, second_html = first.content.decode(), second.content.decode()
    assert first_html.index(f'id="payment-{on_first.pk}"') < first_html.index("re_first_newer")
    assert first_html.index("re_first_newer") < first_html.index("re_first_older")
    assert "re_second" not in first_html
    assert "re_second" in second_html
    assert "re_not_theirs" not in first_html + second_html


def test_a_refund_shows_only_under_its_payment_when_payments_share_a_moment(client, support_user):
    customer = make_customer()
    payments = [make_payment(customer, amount=10_000) for _ in range(22)]
    moment = timezone.now() - timezone.timedelta(days=1)
    with audited(actor=None, reason="test"):
        for payment in payments:  # one moment for all: the page is cut by id
            payment.created = moment
            payment.save()
        Refund.objects.create(
            payment=payments[0],  # the lowest id: the second page's
            stripe_refund_id="re_on_the_second_page",
            amount=100,
            currency="usd",
            status="succeeded",
            created=timezone.now(),
        )
    client.force_login(support_user)

    first = client.get(f"/customers/{customer.pk}/")
    second = client.get(f"/customers/{customer.pk}/", {"partial": "payments", "payments_page": 2})

    assert payments[0].pk not in [p.pk for p in first.context["payments"]]
    assert "re_on_the_second_page" not in first.content.decode()
    assert "re_on_the_second_page" in second.content.decode()


def test_an_unknown_customer_is_a_404(client, support_user):
    client.force_login(support_user)

    assert client.get("/customers/999999/").status_code == 404


def test_ticket_queue_views(client, support_user, finance_user, globex):
    mine = make_ticket(globex["customer"], ref="ZD-100", assignee=support_user)
    unassigned = make_ticket(globex["customer"], ref="ZD-101")
    theirs = make_ticket(globex["customer"], ref="ZD-102", assignee=finance_user)
    solved = make_ticket(globex["customer"], ref="ZD-103", assignee=support_user, status="solved")
    client.force_login(support_user)

    def shown(view):
        return [t.pk for t in client.get("/tickets/", {"view": view}).context["tickets"]]

    assert shown("mine") == [mine.pk]
    assert shown("unassigned") == [unassigned.pk]
    assert sorted(shown("all")) == sorted([mine.pk, unassigned.pk, theirs.pk])
    assert shown("solved") == [solved.pk]


def test_ticket_page_links_its_customer(client, support_user, globex):
    ticket = make_ticket(globex["customer"], ref="ZD-4242")
    client.force_login(support_user)

    html = client.get(f"/tickets/{ticket.pk}/").content.decode()

    assert f'href="/customers/{globex["customer"].pk}/"' in html
    assert "No actions were taken under this ticket." in html
