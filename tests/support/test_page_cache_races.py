"""The customer page's kept content under simultaneous views and writes: once a write has
committed, no view shows the page from before it, however the views that were rendering
meanwhile interleave with it (each on its own connection, as gunicorn's workers are)."""

import threading

from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.audit import audited
from accounts.roles import Role
from billing.models import Payment
from support import services
from support.models import Ticket
from tests.factories import make_staff
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
