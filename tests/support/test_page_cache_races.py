"""The customer page's kept content under simultaneous views and writes: once a write has
committed, no view shows the page from before it, however the views that were rendering
meanwhile interleave with it (each on its own connection, as gunicorn's workers are)."""

import threading
import time

from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from accounts.audit import audited
from accounts.roles import Role
from billing import page_revisions
from billing.models import Invoice, Payment
from support import services
from support.models import Ticket
from tests.factories import make_customer, make_invoice, make_staff
from tests.screens.test_query_budgets import customer_with

ROUNDS = 30
READERS = 3


def test_no_view_after_a_commit_shows_the_page_from_before(committed_db):
    staff = make_staff(Role.SUPPORT, Role.FINANCE)
    customer = customer_with(3, staff)
    ticket = Ticket.objects.filter(customer=customer).first()
    payment = Payment.objects.filter(customer=customer).order_by("-created", "-id").first()
    url = f"/customers/{customer.pk}/"
    views = ["", "?partial=notes", "?partial=payments"]
    stop = threading.Event()
    failures: list[str] = []

    def reader() -> None:
        # Keeps rendering (and keeping) the page while the writes commit, so that some
        # renderings start before a write and finish after it.
        client = Client()
        client.force_login(staff)
        try:
            while not stop.is_set():
                for view in views:
                    if client.get(url + view).status_code != 200:
                        failures.append(f"reader: {view} not 200")
        finally:
            connection.close()

    readers = [threading.Thread(target=reader) for _ in range(READERS)]
    for thread in readers:
        thread.start()
    checker = Client()
    checker.force_login(staff)
    try:
        for round_ in range(ROUNDS):
            services.add_note(
                actor=staff, ticket=ticket, body=f"Marker {round_}.", now=timezone.now()
            )
            refunded = 100 + round_
            with audited(actor=None, reason="test: the mirror records a refund"):
                Payment.objects.filter(pk=payment.pk).update(amount_refunded=refunded)
            # Both writes have committed: every view from here on shows them.
            for view in views:
                html = checker.get(url + view).content.decode()
                if view != "?partial=payments" and f"Marker {round_}." not in html:
                    failures.append(f"round {round_}: {view or 'page'} without its note")
                if (
                    view != "?partial=notes"
                    and f"${refunded // 100}.{refunded % 100:02d}" not in html
                ):
                    failures.append(f"round {round_}: {view or 'page'} without its refund")
    finally:
        stop.set()
        for thread in readers:
            thread.join()

    assert failures == []


def test_two_writers_of_one_customer_wait_for_each_other_without_a_deadlock(committed_db):
    """A long transaction (a resync) writes one of a customer's rows, then waits for another
    that a short one (a webhook) holds and writes. The revision is taken as each commits, so
    the short one commits and the long one goes on; taken by each write, the short one would
    wait for the long one's revision and PostgreSQL would abort one of them."""
    customer = make_customer()
    first, second = make_invoice(customer), make_invoice(customer)
    before = page_revisions.current(customer.pk)
    second_held = threading.Event()
    errors: list[BaseException] = []

    def long_transaction() -> None:
        try:
            with transaction.atomic():
                Invoice.objects.filter(pk=first.pk).update(number="RESYNC-1")
                second_held.wait(10)
                list(Invoice.objects.select_for_update().filter(pk=second.pk))  # waits
                Invoice.objects.filter(pk=second.pk).update(number="RESYNC-2")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def short_transaction() -> None:
        try:
            with transaction.atomic():
                list(Invoice.objects.select_for_update().filter(pk=second.pk))
                Invoice.objects.filter(pk=second.pk).update(number="WEBHOOK-2")
                second_held.set()
                time.sleep(0.5)  # the long one is waiting for this row meanwhile
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=long_transaction),
        threading.Thread(target=short_transaction),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    numbers = dict(Invoice.objects.filter(customer=customer).values_list("pk", "number"))
    assert numbers == {first.pk: "RESYNC-1", second.pk: "RESYNC-2"}
    assert page_revisions.current(customer.pk).customer > before.customer
