"""`manage.py demo`: the billing admin on this machine, with demo data, in one command.

Three parts run together: the Stripe emulator (a thread of this process, on loopback), the app
(`runserver`, in this process) and the task worker (`db_worker`, a child process). On a first
run the demo account's history is built in the emulator (devtools/demo/stripe_history.py),
mirrored into the database the way any Stripe account is (the backfill of
billing/stripe/sync.py), and given tickets, notes and a few staff actions
(devtools/demo/support_data.py). Then webhooks flow (devtools/demo/live.py): a renewal that
falls due as the app starts fails on its card, and a new customer signs up, both reaching the app
through webhooks and the worker.

The emulator keeps its state in memory; the demo saves it next to the SQLite database (on exit
and every minute) and loads it on the next start, so the app's mirror and "Stripe" still agree.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from billing.models import (
    BalanceTransaction,
    Customer,
    Invoice,
    Payment,
    PaymentStatus,
    Refund,
    Subscription,
)
from billing.stripe.sync import backfill
from devtools import stripe_client
from devtools.demo.catalog import customer_profiles
from devtools.demo.live import run_live
from devtools.demo.runner import (
    default_state_path,
    has_demo_data,
    interrupt,
    pointed_at,
    require_free_port,
    start_worker,
    stop_worker,
)
from devtools.demo.stripe_history import seed_stripe
from devtools.demo.support_data import (
    DEMO_PASSWORD,
    DEMO_STAFF,
    agent_token,
    ensure_agent,
    ensure_staff,
    seed_actions,
    seed_tickets,
)
from devtools.stripe_emulator import EmulatorHandle, Settings, start_emulator

# The demo account leaves a subscription past due when every retry of its payment failed
# (a Stripe setting), so the demo keeps its past-due customers instead of cancelling them.
FINAL_FAILURE_ACTION = "past_due"


class Command(BaseCommand):
    help = (
        "Migrate the database, start the Stripe emulator, seed demo customers into it on the "
        "first run and mirror them, print the staff logins, and serve the app with its task "
        "worker on 127.0.0.1. Local runs only (DEBUG=1)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="port to serve on (8000)")
        parser.add_argument(
            "--stripe-port",
            type=int,
            default=12111,
            help="port of the Stripe emulator (12111; 0: any free port)",
        )
        parser.add_argument(
            "--customers", type=int, default=300, help="customers to seed on first run (300)"
        )
        parser.add_argument("--seed", type=int, default=2026, help="random seed of the demo data")
        parser.add_argument(
            "--stripe-state",
            help="file keeping the emulator's state between runs (default: next to the SQLite "
            "database, <database>-stripe.pickle)",
        )
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare the data and exit without serving"
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "manage.py demo creates staff users with a published password, so it only runs "
                "locally: start it with DEBUG=1."
            )
        if not options["no_serve"]:
            require_free_port(options["port"], "--port")
        if options["stripe_port"]:
            require_free_port(options["stripe_port"], "--stripe-port")
        state_path = Path(options["stripe_state"] or default_state_path())
        # SIGTERM stops the demo as Ctrl-C does; serve() takes both over while it stops.
        original_handlers = {
            signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)
        }
        signal.signal(signal.SIGTERM, interrupt)
        try:
            self.run(state_path, **options)
        except KeyboardInterrupt:
            raise CommandError(
                f"Interrupted before the demo was ready; nothing was saved in {state_path}."
            ) from None
        finally:
            for signum, handler in original_handlers.items():
                signal.signal(signum, handler)

    def run(self, state_path: Path, **options) -> None:
        started = time.monotonic()
        port, serve = options["port"], not options["no_serve"]
        call_command("migrate", interactive=False, verbosity=0)
        first_run = self.check_state(state_path)
        staff = ensure_staff()
        agent = ensure_agent()
        emulator = self.start_emulator(options["stripe_port"], port, state_path, first_run)
        serving = False
        try:
            with pointed_at(emulator):
                try:
                    live_customer = ""
                    if first_run:
                        live_customer = self.seed(
                            emulator, options["customers"], options["seed"], staff
                        )
                    else:
                        self.stdout.write(
                            f"Demo data already present ({Customer.objects.count()} customers); "
                            f"Stripe state loaded from {state_path}."
                        )
                    emulator.save(state_path)
                    self.stdout.write(f"Ready in {time.monotonic() - started:.1f} s.")
                    self.print_logins(port, emulator, state_path, serve=serve)
                    self.print_agent(port, agent_token(agent, now=timezone.now()))
                    if serve:
                        serving = True
                        self.serve(emulator, port, state_path, first_run, live_customer)
                finally:
                    # No emulator thread may be left waiting on an idle keep-alive connection.
                    stripe_client.close_connections()
        finally:
            if serving:
                emulator.save(state_path)
            emulator.stop()
        if serving:
            self.stdout.write(f"Stopped. Stripe state saved in {state_path}.")

    # State: the database and the emulator's saved file must belong together ----------------

    def check_state(self, state_path: Path) -> bool:
        """True for a first run (nothing seeded); starts over if the two do not belong together."""
        if not has_demo_data():
            if state_path.exists():
                self.stdout.write(
                    f"Discarding the saved Stripe state in {state_path}: the database has no "
                    "demo data."
                )
                state_path.unlink()
            return True
        if state_path.exists():
            return False
        if "DATABASE_URL" in os.environ:
            raise CommandError(
                f"The database has demo data, but the Stripe emulator's saved state "
                f"({state_path}) is missing, so the app's mirror would point at objects "
                "that no longer exist. Empty that database (or point DATABASE_URL at an "
                "empty one) and run the demo again."
            )
        database = Path(settings.DATABASES["default"]["NAME"])
        self.stdout.write(
            f"The database has demo data, but the saved Stripe state ({state_path}) is "
            f"missing: starting over with a new database ({database})."
        )
        connections.close_all()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        return True

    def start_emulator(
        self, stripe_port: int, port: int, state_path: Path, first_run: bool
    ) -> EmulatorHandle:
        try:
            emulator = start_emulator(
                host="127.0.0.1",
                port=stripe_port,
                settings=Settings(final_failure_action=FINAL_FAILURE_ACTION),
            )
        except OSError as error:
            raise CommandError(
                f"The Stripe emulator cannot listen on 127.0.0.1:{stripe_port} "
                f"({error.strerror}); choose another port with --stripe-port (0: any free one)."
            ) from None
        # Nothing is delivered until the app listens; deliveries saved as queued at the last
        # exit are queued again for this endpoint.
        emulator.pause_webhooks()
        emulator.add_webhook_endpoint(
            f"http://127.0.0.1:{port}/stripe/webhook/", settings.STRIPE_WEBHOOK_SECRET
        )
        if not first_run:
            try:
                emulator.load(state_path)
            except (OSError, ValueError) as error:
                emulator.stop()
                raise CommandError(
                    f"The saved Stripe state {state_path} cannot be loaded ({error}). Delete "
                    "it and the database to start over."
                ) from None
        return emulator

    # Seeding -------------------------------------------------------------------------------

    def seed(self, emulator: EmulatorHandle, count: int, seed: int, staff: list[User]) -> str:
        """Build the account in Stripe, mirror it, add tickets; returns the customer whose
        renewal is left to happen live."""
        started = time.monotonic()
        now = timezone.now()
        self.stdout.write(f"Seeding {count} demo customers into the Stripe emulator…")
        profiles = customer_profiles(count, seed=seed, now=now)
        result = seed_stripe(
            clock=emulator,
            profiles=profiles,
            now=now,
            seed=seed,
            progress=lambda moment: self.stdout.write(f"  Stripe's clock: {moment:%Y-%m-%d}"),
        )
        # The deliveries of the history just made are dropped: the backfill reads the result.
        emulator.drain_webhooks()
        self.stdout.write(
            f"  {result.customers} customers and {result.subscriptions} subscriptions signed "
            f"up, {result.refunds} refunds, {result.credits} credits "
            f"({time.monotonic() - started:.1f} s)."
        )
        mirrored = time.monotonic()
        self.stdout.write("Mirroring Stripe into the database (manage.py stripe_sync)…")
        backfill(progress=self.print_sync_progress)
        self.stdout.write(f"  done ({time.monotonic() - mirrored:.1f} s).")
        workers = [user for user in staff if user.username in (Role.SUPPORT, Role.FINANCE)]
        customers = list(Customer.objects.order_by("created", "pk"))
        tickets, notes = seed_tickets(customers=customers, staff=workers, seed=seed, now=now)
        by_name = {user.username: user for user in staff}
        for line in seed_actions(staff=by_name, now=timezone.now()):
            self.stdout.write(f"  {line}")
        self.print_summary(tickets, notes, time.monotonic() - started)
        return result.live_renewal_customer

    def print_sync_progress(self, resource: str, count: int, done: bool) -> None:
        if done:
            self.stdout.write(f"  {resource.replace('_', ' ')}: {count}")

    def print_summary(self, tickets: int, notes: int, seconds: float) -> None:
        payments = Payment.objects.all()
        credits = BalanceTransaction.objects.filter(type="adjustment", amount__lt=0)
        self.stdout.write(
            f"Seeded {Customer.objects.count()} customers, "
            f"{Subscription.objects.count()} subscriptions, {Invoice.objects.count()} invoices, "
            f"{payments.count()} payments "
            f"({payments.filter(status=PaymentStatus.FAILED).count()} failed), "
            f"{Refund.objects.count()} refunds, {credits.count()} credits, {tickets} tickets "
            f"and {notes} notes in {seconds:.1f} s."
        )

    def print_logins(
        self, port: int, emulator: EmulatorHandle, state_path: Path, *, serve: bool
    ) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Billing admin: http://127.0.0.1:{port}/"))
        self.stdout.write(f"Sign in as one of these staff users, password {DEMO_PASSWORD}:")
        for role, (first, last) in DEMO_STAFF.items():
            self.stdout.write(f"  {role.value:<8}  {first} {last}")
        if settings.MFA_REQUIRED_ROLES:
            roles = " and ".join(sorted(settings.MFA_REQUIRED_ROLES))
            self.stdout.write(
                f"  ({roles} move money: at their first action or decision the app asks them to "
                "set up a second factor, an authenticator app's code or a security key)"
            )
        running = "" if serve else " (stopped with this command)"
        self.stdout.write(f"Stripe emulator: {emulator.url}{running}; state in {state_path}")
        self.stdout.write("")

    def print_agent(self, port: int, token: str) -> None:
        api = f"http://127.0.0.1:{port}/api/v1"
        self.stdout.write(
            f"JSON API: {api}/ (docs: {api}/docs). The agent (an automation: every action it "
            "asks for waits for a person's approval) has this API token, new at each start:"
        )
        self.stdout.write(f"  agent     {token}")
        self.stdout.write(f'  curl -H "Authorization: Bearer {token}" "{api}/customers?q=acme"')
        self.stdout.write(
            "More tokens, for any staff user: manage.py create_api_token <username> "
            "[--read-only] [--expires DAYS], or the API tokens page (admin)."
        )
        self.stdout.write("")

    # Serving -------------------------------------------------------------------------------

    def serve(
        self,
        emulator: EmulatorHandle,
        port: int,
        state_path: Path,
        first_run: bool,
        live_customer: str,
    ) -> None:
        """The worker as a child process, live changes in a thread, the app in this one,
        until Ctrl-C or SIGTERM."""
        worker = start_worker(emulator)
        self.stdout.write(f"Task worker: manage.py db_worker (pid {worker.pid})")
        stop = threading.Event()
        live = threading.Thread(
            target=run_live,
            kwargs={
                "emulator": emulator,
                "port": port,
                "state_path": state_path,
                "stop": stop,
                "first_run": first_run,
                "live_customer": live_customer,
                "say": self.stdout.write,
            },
            name="demo-live",
            daemon=True,
        )
        live.start()
        try:
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
        except (KeyboardInterrupt, SystemExit):
            pass  # runserver turns Ctrl-C into exit(0); SIGTERM comes as Ctrl-C (_interrupt)
        finally:
            # Ctrl-C often comes twice (the terminal signals the whole process group, and
            # `uv run` passes its own on): from here on, until the state is saved and the
            # emulator stopped, further ones must not cut the clean-up short (handle()
            # restores the handlers at the very end).
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stdout.write("Stopping…")
            stop.set()
            live.join(timeout=15)
            stop_worker(worker)
