#!/usr/bin/env python
"""Django's command-line utility for the billing admin."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings")
    from django.core.management import execute_from_command_line

    from billing.startup import configuration_errors_in_one_line

    hint = ""
    if sys.argv[1:2] == ["demo"]:
        hint = " (manage.py demo runs only locally, with DEBUG=1, which needs none of these.)"
    with configuration_errors_in_one_line(hint):
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018  (loads them: a bad one stops here, in one line)
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
