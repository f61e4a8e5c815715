from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.actions.pipeline import confirm_reported
from billing.stripe import gateway
from billing.stripe.sync import backfill


class Command(BaseCommand):
    help = (
        "Backfill the local mirror from Stripe's list endpoints: products, prices, customers, "
        "subscriptions, invoices, charges, refunds and balance transactions. An interrupted run "
        "resumes where it stopped; --restart starts over."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--restart", action="store_true", help="ignore a previous run's place")
        parser.add_argument("--page-size", type=int, default=100, help="objects per request")

    def handle(self, *args, **options) -> None:
        def progress(resource: str, count: int, done: bool) -> None:
            self.stdout.write(f"  {resource:<22} {count:>7}{'  done' if done else ''}")

        self.stdout.write("Reading Stripe…")
        try:
            total = backfill(
                restart=options["restart"],
                page_size=options["page_size"],
                progress=progress,
                confirm=confirm_reported,
            )
        except gateway.StripeGatewayError as error:
            raise CommandError(
                f"Stripe did not answer ({error.message}); run again to resume from here."
            ) from None
        self.stdout.write(self.style.SUCCESS(f"Mirrored {total} objects from Stripe."))
