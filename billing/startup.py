"""Configuration errors in one line: every entry point (manage.py and so the task worker and
the demo, the WSGI app, gunicorn's config, the Celery app) loads the settings inside
`configuration_errors_in_one_line`, so a missing or malformed environment variable stops it
with one line naming the variable and what to set, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured


@contextmanager
def configuration_errors_in_one_line(hint: str = "") -> Iterator[None]:
    try:
        yield
    except ImproperlyConfigured as error:
        sys.stderr.write(f"Configuration error: {error}{hint}\n")
        sys.stderr.flush()
        raise SystemExit(2) from None


def load_settings() -> None:
    """Read the settings now (they are lazy), stopping in one line if they are wrong."""
    from django.conf import settings

    with configuration_errors_in_one_line():
        settings.INSTALLED_APPS  # noqa: B018  (reading one setting loads them all)
