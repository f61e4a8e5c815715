"""No card number gets in, however it is written; no input gets a 500 out of the search or the
webhook endpoint."""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import actions
from billing.actions.justification import has_card_number
from billing.models import StripeEvent
from devtools.stripe_emulator import signature_header

# Test cards of the schemes, written the ways people (and keyboards) write them.
CARDS = [
    "4242 4242 4242 4242",
    "4242-4242-4242-4242",
    "4242424242424242",
    "4242.4242.4242.4242",
    "4242/4242/4242/4242",
    "4242_4242_4242_4242",
    "4242 -- 4242 ---- 4242 4242",
    "4242\n4242\n4242\n4242",
    "4242\r\n4242\r\n4242\r\n4242",
    "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2",
    "4242•4242•4242•4242",
    "4242\t4242\t4242\t4242",
    "４２４２ ４２４２ ４２４２ ４２４２",  # full-width digits, as a Japanese keyboard types
    "４２４２－４２４２－４２４２－４２４２",  # full-width digits and dashes
    "٤٢٤٢ ٤٢٤٢ ٤٢٤٢ ٤٢٤٢",  # Arabic-Indic digits
    "۴۲۴۲۴۲۴۲۴۲۴۲۴۲۴۲",  # Eastern Arabic (Persian) digits
    "४२४२ ४२४२ ४२४२ ४२४२",  # Devanagari digits
    "card: 4242 4242 4242 4242 exp 12/28 cvc 123",
    "5555 5555 5555 4444",  # Mastercard
    "2223 0031 2200 3222",  # Mastercard, 2-series
    "3782 822463 10005",  # American Express
    "6011 1111 1111 1117",  # Discover
    "3530 1113 3330 0000",  # JCB
    "3056 9309 0259 04",  # Diners Club
    "6200 0000 0000 0005",  # UnionPay
    "4000 0566 5566 5556",  # Visa debit
    "4222222222222",  # a 13-digit Visa
    "number is 4242 4242\n4242 4242 thanks",
]
# Numbers that are not cards and must pass: order numbers, dates, phone numbers, references.
INNOCENT = [
    "Order #100234567",
    "INV-2026-000123",
    "Invoice ACME-0042 of 2026-11-30",
    "2026-12-01",
    "2026-12-01 09:30",
    "01/12/2026 – 31/12/2026",
    "2026-12-01 2026-12-31",
    "+44 20 7946 0958",
    "+1 (415) 555-2671, +1 (415) 555-2672",
    "call 0800 123 4567 or 0800 765 4321",
    "ZD-48213",
    "ticket ZD-48213 and ZD-48214",
    "4242 4242 4242 4241",  # fails the Luhn check
    "ref 1234567890123",
    "Customer since 2019, 35 seats, 12 months",
    "IBAN DE89 3704 0044 0532 0130 00",
    "VAT GB 123 4567 89",
    "amount 1,234,567.89 USD",
    "ip 192.168.100.200 port 8080",
    "tracking 1Z 999 AA1 01 2345 6784",
    "cus_Pq8xYzAbCdEfGh12",
    "re_3NfLk2Jb9xY0000000000000",
    "2026 12 01 10 45 33 123",
    "SIREN 732 829 320",
    "phone +81 3-1234-5678 / fax +81 3-1234-5679",
    "version 1.2.3.4.5.6.7.8",
]


@pytest.mark.parametrize("text", CARDS)
def test_a_card_number_is_found_however_it_is_written(text):
    assert has_card_number(text)


@pytest.mark.parametrize("text", INNOCENT)
def test_innocent_numbers_are_not_taken_for_cards(text):
    assert not has_card_number(text)


def test_the_corpora_are_large_enough():
    assert len(CARDS) >= 25
    assert len(INNOCENT) >= 25


def test_a_note_with_a_card_number_is_refused(account, support_user):
    with pytest.raises(actions.InvalidAction) as refused:
        actions.request_refund(
            actor=support_user,
            payment=account.payment,
            amount=1000,
            reason="duplicate",
            ticket="ZD-40",
            note="customer read out ４２４２ ４２４２ ４２４２ ４２４２",
        )

    assert "card number" in refused.value.errors["note"]


# The search ---------------------------------------------------------------------------------


def test_a_nul_byte_in_the_search_is_refused_with_400(client, support_user):
    client.force_login(support_user)

    response = client.get("/customers/", {"q": "acme\x00corp"})

    assert response.status_code == 400
    assert "control characters" in response.text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=60))
def test_the_search_never_answers_500(client, support_user, query):
    client.force_login(support_user)

    response = client.get("/customers/", {"q": query.encode("utf-8", "surrogatepass")})

    assert response.status_code in (200, 400)


# The webhook endpoint -----------------------------------------------------------------------


def post_signed(client, settings, body: bytes):
    text = body.decode("utf-8", errors="replace")  # what the endpoint verifies
    header = signature_header(text, settings.STRIPE_WEBHOOK_SECRET, timestamp=int(time.time()))
    return client.post(
        "/stripe/webhook/",
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": header},
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        b'{"id": "evt_1"}',
        b'{"id": 42, "type": "customer.created"}',
        b'{"id": "evt_2", "type": "charge.refunded", "created": "yesterday", "data": {}}',
        b'{"id": "evt_3", "type": "x", "created": 1, "data": {"object": []}}',
        b'{"id": "evt_4", "type": "x", "created": 1, "data": {"object": {"id": 1}}}',
        '{"id": "evt_5", "type": "\u0000", "created": 1, "data": {"object": {}}}'.encode(),
        b"\xff\xfe invalid utf-8",
        b"",
    ],
)
def test_a_signed_body_that_is_not_an_event_is_stored_as_failed_and_refused(
    client, db, settings, body
):
    response = post_signed(client, settings, body)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    stored = StripeEvent.objects.get()
    assert stored.error
    assert stored.processed_at is None
    assert post_signed(client, settings, body).status_code == 400  # again: stored once
    assert StripeEvent.objects.count() == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    event=st.fixed_dictionaries(
        {"id": st.one_of(st.just("evt_fuzz"), st.text(max_size=12))},
        optional={
            "type": st.one_of(
                st.sampled_from(["charge.refunded", "customer.updated"]), json_values
            ),
            "created": st.one_of(st.integers(), json_values),
            "data": st.one_of(
                st.fixed_dictionaries(
                    {"object": st.dictionaries(st.text(max_size=8), json_values)}
                ),
                json_values,
            ),
            "livemode": json_values,
        },
    )
)
def test_the_webhook_never_answers_500_to_a_signed_body(client, db, settings, event):
    response = post_signed(client, settings, json.dumps(event).encode())

    assert response.status_code in (200, 400)
