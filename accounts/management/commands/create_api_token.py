"""`manage.py create_api_token <username> [--read-only] [--expires DAYS] [--name NAME]`.

Prints a new API token of that staff member as its last line, so a script can take it with
`tail -n 1`. The token is stored hashed: this is the only time it is shown.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import User
from accounts.tokens import TokenError, issue_token


class Command(BaseCommand):
    help = "Issue an API token for a staff member and print it (its last line of output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the staff member the token acts as")
        parser.add_argument(
            "--read-only", action="store_true", help="the token may only read (GET)"
        )
        parser.add_argument(
            "--expires",
            type=int,
            metavar="DAYS",
            help="expire after DAYS days (default: never; revoke it when done)",
        )
        parser.add_argument(
            "--name", default="", help="what the token is for (default: “created with manage.py”)"
        )

    def handle(self, *args, **options) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No staff member is called {options['username']!r}.")
        try:
            token, value = issue_token(
                actor=None,
                user=user,
                name=options["name"] or "created with manage.py create_api_token",
                read_only=options["read_only"],
                expires_in_days=options["expires"],
                now=timezone.now(),
                reason=f"API token issued to {user.username} with manage.py create_api_token",
            )
        except TokenError as error:
            raise CommandError(str(error)) from None
        expiry = (
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC"
            if token.expires_at
            else "never expires"
        )
        roles = ", ".join(sorted(g.name for g in user.groups.all())) or "no roles"
        self.stdout.write(
            f"API token {token.prefix}… for {user.username} ({roles}), {token.scope}, {expiry}. "
            "Keep it secret: it is shown only now."
        )
        self.stdout.write(value)
