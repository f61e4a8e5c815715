"""`manage.py audit_verify`: walk every history and ledger hash chain from its start.

Prints how many rows it verified and how long it took, and the latest digest of each chain
(`--heads`). Exits 0 when every chain is intact; exits 1 naming the first row that was
altered, deleted or inserted outside the app.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import chain


class Command(BaseCommand):
    help = "Verify the hash chains of every history and ledger table; exit 1 on the first break."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--heads", action="store_true", help="also print the latest digest of each chain"
        )

    def handle(self, *args, heads: bool = False, **options) -> None:
        result = chain.verify()
        summary = (
            f"{result.rows:,} rows in {result.chains} chains verified in {result.seconds:.2f} s"
        )
        if result.broken is not None:
            self.stdout.write(summary + " before the break.")
            raise CommandError(f"Chain broken at {result.broken}.", returncode=1)
        self.stdout.write(summary + ": every chain is intact.")
        if heads:
            for head in chain.heads():
                self.stdout.write(f"{head.table} {head.digest}")
