"""`manage.py demo`: the billing admin on this machine, with demo data, in one command."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.audit import audited
from accounts.models import User
from accounts.roles import Role
from accounts.services import create_staff_user
from billing.demo import customer_profiles, seed_local
from billing.models import Customer
from support.demo import seed_tickets

DEMO_PASSWORD = "billing-demo-2026"
DEMO_STAFF = {
    Role.SUPPORT: ("Sam", "Support"),
    Role.FINANCE: ("Fran", "Finance"),
    Role.ADMIN: ("Ada", "Admin"),
    Role.AUDITOR: ("Otto", "Auditor"),
}


class Command(BaseCommand):
    help = (
        "Migrate the database, seed demo customers on first run, print the staff logins and "
        "serve the app on 127.0.0.1. Local runs only (DEBUG=1)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="port to serve on (8000)")
        parser.add_argument(
            "--customers", type=int, default=300, help="customers to seed on first run (300)"
        )
        parser.add_argument("--seed", type=int, default=2026, help="random seed of the demo data")
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare the data and exit without serving"
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "manage.py demo creates staff users with a published password, so it only runs "
                "locally: start it with DEBUG=1."
            )
        call_command("migrate", interactive=False, verbosity=0)
        staff = self.ensure_staff()
        if Customer.objects.exists():
            self.stdout.write(f"Demo data already present ({Customer.objects.count()} customers).")
        else:
            self.seed(options["customers"], options["seed"], staff)
        self.print_logins(options["port"])
        if not options["no_serve"]:
            call_command("runserver", f"127.0.0.1:{options['port']}", use_reloader=False)

    def ensure_staff(self) -> list[User]:
        """One staff member per role, named after it, with the demo password."""
        staff = []
        for role, (first, last) in DEMO_STAFF.items():
            user = User.objects.filter(username=role.value).first()
            if user is None:
                user = create_staff_user(
                    actor=None,
                    username=role.value,
                    email=f"{role.value}@billing-admin.example",
                    first_name=first,
                    last_name=last,
                    roles=[role],
                    password=DEMO_PASSWORD,
                    reason="Demo staff login",
                )
            elif not user.check_password(DEMO_PASSWORD):
                with (
                    transaction.atomic(durable=True),
                    audited(
                        actor=None, reason="Demo staff login: password reset to the demo password"
                    ),
                ):
                    user.set_password(DEMO_PASSWORD)
                    user.save()
            staff.append(user)
        return staff

    def seed(self, count: int, seed: int, staff: list[User]) -> None:
        started = time.monotonic()
        now = timezone.now()
        self.stdout.write(f"Seeding {count} demo customers…")
        summary, customers = seed_local(
            profiles=customer_profiles(count, seed=seed, now=now), now=now
        )
        workers = [user for user in staff if user.username in (Role.SUPPORT, Role.FINANCE)]
        tickets, notes = seed_tickets(customers=customers, staff=workers, seed=seed, now=now)
        self.stdout.write(
            f"Seeded {summary.customers} customers, {summary.subscriptions} subscriptions, "
            f"{summary.invoices} invoices, {summary.payments} payments "
            f"({summary.failed_payments} failed), {summary.refunds} refunds, "
            f"{summary.credits} credits, {tickets} tickets and {notes} notes "
            f"in {time.monotonic() - started:.1f} s."
        )

    def print_logins(self, port: int) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Billing admin: http://127.0.0.1:{port}/"))
        self.stdout.write(f"Sign in as one of these staff users, password {DEMO_PASSWORD}:")
        for role, (first, last) in DEMO_STAFF.items():
            self.stdout.write(f"  {role.value:<8}  {first} {last}")
        self.stdout.write("")
