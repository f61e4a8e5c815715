import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.models import Customer
from billing.stripe import gateway
from billing.stripe.sync import drift


class Command(BaseCommand):
    help = (
        "List every difference between the local mirror and Stripe (customers, balances, "
        "subscriptions, invoices, payments, refunds). Exits 1 when there is drift."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customer", help="only this customer (our id or a cus_ id)")

    def handle(self, *args, **options) -> None:
        customer = None
        if wanted := options.get("customer"):
            lookup = {"stripe_customer_id": wanted} if wanted.startswith("cus_") else {"pk": wanted}
            customer = Customer.objects.filter(**lookup).first()
            if customer is None:
                raise CommandError(f"No customer {wanted}.")
        try:
            differences = drift(customer=customer)
        except gateway.StripeGatewayError as error:
            raise CommandError(f"Stripe did not answer: {error.message}") from None
        for difference in differences:
            self.stdout.write(str(difference))
        if differences:
            self.stdout.write(self.style.ERROR(f"{len(differences)} differences with Stripe."))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("No drift: the mirror matches Stripe."))
