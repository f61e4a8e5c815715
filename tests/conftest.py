"""Test session set-up: production-like settings on PostgreSQL, and shared fixtures.

The environment is set here, before Django reads its settings (pytest-django sets Django up
after this module is imported, because DJANGO_SETTINGS_MODULE is not in the pytest config).
"""

import atexit
import os
import secrets
import shutil
import tempfile

import pytest

from tests.postgres import PostgresUnavailable, database_url_for_tests

try:
    _DATABASE_URL = database_url_for_tests()
except PostgresUnavailable as error:
    raise SystemExit(f"error: {error}") from None  # one line, no traceback

os.environ["DJANGO_SETTINGS_MODULE"] = "billing.settings"
os.environ["DATABASE_URL"] = _DATABASE_URL
os.environ["DEBUG"] = "0"
os.environ["DEVTOOLS"] = "1"  # the Stripe emulator, the demo command
os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
os.environ["SECURE_SSL_REDIRECT"] = "0"
os.environ["ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
os.environ["STRIPE_API_KEY"] = "sk_test_emulator"
os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_test_" + secrets.token_hex(16)
# Staff at work in the tests sign in without a second factor; the requirement (finance and
# admin, the default outside tests) is back on in tests/billing/test_second_factor.py.
os.environ["MFA_REQUIRED_ROLES"] = ""
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")  # Playwright's sync API runs a loop

import django
from django.conf import settings

settings.INSTALLED_APPS  # noqa: B018  (loads the settings, so pytest-django sets Django up)
django.setup()
# Each test process (pytest-xdist runs several) collects the static files into its own folder.
settings.STATIC_ROOT = tempfile.mkdtemp(prefix="billing-static-")
atexit.register(shutil.rmtree, settings.STATIC_ROOT, ignore_errors=True)

from tests.factories import *  # noqa: E402, F403


@pytest.fixture(scope="session", autouse=True)
def collected_static_files():
    """Pages are rendered as in production: hashed static files from collectstatic."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def compiled_queries_checked():
    """Every query compiled once (billing.models.prebuilt.CompiledOnce) is, at every use in the
    suite, also compiled anew with its real values, and must match."""
    from billing.models.prebuilt import CompiledOnce

    CompiledOnce.VERIFY = True
    yield
    CompiledOnce.VERIFY = False


@pytest.fixture(autouse=True)
def empty_page_cache():
    """Each test starts with no kept customer page: a test's database is rolled back or
    flushed after it, so a revision another test saw may describe other rows."""
    from django.core.cache import caches

    caches["pages"].clear()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the test item, so fixtures can react to a failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def restorable_database(django_db_setup, django_db_blocker):
    """Empty the test database once, before the first live-server test.

    Live-server tests commit, so Django flushes the database after each and restores the
    migrations' rows (roles, policy, reason codes) before the next ("serialized rollback").
    That restore writes a row still present as an UPDATE, which the append-only history tables
    refuse; starting from empty tables it only inserts. pytest-django runs these tests after
    all the others, which keep seeing the migrations' rows.
    """
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)


@pytest.fixture(scope="session")
def live_server():
    """pytest-django's live server, with static files served the production way (WhiteNoise
    and the hashed names of collectstatic) instead of Django's development file finders."""
    from django.test.testcases import LiveServerThread
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("localhost", start=False)
    server.thread = LiveServerThread(
        "localhost", static_handler=lambda application: application, connections_override={}
    )
    server.thread.daemon = True
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _emulator():
    from devtools.stripe_emulator import start_emulator

    handle = start_emulator(host="127.0.0.1", port=0)
    yield handle
    handle.stop()


@pytest.fixture
def stripe_emulator(_emulator, settings):
    """The Stripe emulator over HTTP, empty, with the app pointed at it.

    Webhooks queue up for a (never listening) endpoint signed with our secret, paused: a test
    takes them with `_emulator.drain_webhooks()` and delivers them itself, in any order.
    """
    from django.conf import settings as django_settings

    _emulator.reset()
    _emulator.emulator.webhooks.clear_endpoints()
    _emulator.add_webhook_endpoint(
        "http://127.0.0.1:9/not-listening", django_settings.STRIPE_WEBHOOK_SECRET
    )
    _emulator.pause_webhooks()
    settings.STRIPE_API_BASE = _emulator.url
    settings.STRIPE_API_KEY = "sk_test_emulator"
    settings.STRIPE_TIMEOUT_SECONDS = 2
    return _emulator


@pytest.fixture
def committed_db(restorable_database, django_db_serialized_rollback, transactional_db):
    """A database whose writes really commit, for tests with a live server or threads.

    Every such test uses this fixture, so that each restores the migrations' rows the same way
    (see restorable_database). Their modules must not carry a `django_db` mark: pytest-django
    would take the mark's settings over this fixture's.

    The restore inserts rows with their ids, and leaves the id sequences behind them: the
    first new history row of, say, a policy limit would take an id already restored. The
    sequences are moved past the restored rows here.
    """
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection

    models = [
        model
        for label in ("accounts", "billing", "support")
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    ]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)


from tests.browser import page  # noqa: E402, F401  (fixtures for every test module)
from tests.tasks import clock  # noqa: E402, F401
