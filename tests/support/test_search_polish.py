"""The search box says why each customer matched, and a search submitted for exactly one
customer's Stripe id, billing email or invoice number opens that customer."""

import pytest

from tests.factories import make_customer, make_invoice, make_payment

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in(client, support_user):
    client.force_login(support_user)
    return client


@pytest.fixture
def globex():
    customer = make_customer(
        name="Globex Corporation",
        handle="globex",
        billing_email="ap@globex.com",
        email_domain="globex.com",
        stripe_customer_id="cus_Globex123",
    )
    make_invoice(customer, number="GLBX-00042")
    make_payment(customer, card_last4="1881")
    make_customer(
        name="Globex Holdings", handle="globex-holdings", billing_email="ap@globex.com.au"
    )
    return customer


@pytest.mark.parametrize("query", ["cus_Globex123", "AP@globex.com", "glbx-00042"])
def test_an_exact_hit_on_an_id_email_or_invoice_number_opens_the_customer(signed_in, globex, query):
    response = signed_in.get("/customers/", {"q": query})

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{globex.pk}/"


@pytest.mark.parametrize("query", ["cus_Globex123", "ap@globex.com"])
def test_results_as_you_type_never_navigate_away(signed_in, globex, query):
    response = signed_in.get("/customers/", {"q": query}, headers=HTMX)

    assert response.status_code == 200
    assert globex.name in response.content.decode()


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("cus_Globex123", "Stripe customer id cus_Globex123"),
        ("ap@globex.com", "billing email"),
        ("ap@glob", "billing email (starts with it)"),
        ("GLBX-00042", "invoice GLBX-00042"),
        ("globex.com", "email domain"),
        ("globex", "handle"),
        ("glob", "handle (starts with it)"),
        ("corporation", "name"),
        ("1881", "card ending 1881"),
    ],
)
def test_each_result_says_why_it_matched(signed_in, globex, query, why):
    response = signed_in.get("/customers/", {"q": query}, headers=HTMX)

    found = {customer.pk: customer.matched_on for customer in response.context["results"]}
    assert found[globex.pk] == why
    assert f'<td class="match">{why}</td>' in response.content.decode()


@pytest.mark.parametrize("query", ["globex", "1881", "ap@glob"])
def test_a_search_that_is_not_an_exact_hit_shows_the_results(signed_in, globex, query):
    response = signed_in.get("/customers/", {"q": query})

    assert response.status_code == 200
    assert globex.pk in [customer.pk for customer in response.context["results"]]
