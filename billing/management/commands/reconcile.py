from django.core.management.base import BaseCommand

from billing.actions.pipeline import reconcile


class Command(BaseCommand):
    help = (
        "Compare recent customers with Stripe once and mend what differs (the task worker does "
        "this every few minutes on its own)."
    )

    def handle(self, *args, **options) -> None:
        run = reconcile()
        self.stdout.write(
            f"Checked {run.customers_checked} customers: {run.differences_found} differences, "
            f"{run.actions_confirmed} actions confirmed, {run.actions_retried} attempts made."
        )
        for line in filter(None, run.mended.splitlines()):
            self.stdout.write(f"  {line}")
        for line in filter(None, run.error.splitlines()):
            self.stderr.write(f"  {line}")
