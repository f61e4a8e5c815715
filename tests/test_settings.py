"""Settings come from the environment; bad or missing values stop the process at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "SECRET_KEY": "x7#kq!" * 10,
    "ALLOWED_HOSTS": "billing.example.com",
    # This test session's PostgreSQL server: the model checks of generated columns connect.
    "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres",
    "STRIPE_API_KEY": "sk_live_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
}

# Set by tests/conftest.py for the test process only; a deployment has none of them.
TEST_ONLY = ("DEBUG", "TEST_DATABASE_URL", "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        name: value for name, value in os.environ.items() if name not in (*PRODUCTION, *TEST_ONLY)
    }
    clean["DJANGO_SETTINGS_MODULE"] = "billing.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {
        name: value for name, value in os.environ.items() if name not in (*PRODUCTION, *TEST_ONLY)
    }
    return subprocess.run(
        command, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> None:
    """The process stopped with one line on stderr saying what to fix, and no traceback."""
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error: ")
    for text in expected:
        assert text in lines[0]


@pytest.mark.parametrize(
    ("missing", "what"),
    [
        ("SECRET_KEY", "a random string of at least 50 characters"),
        ("ALLOWED_HOSTS", "the host names the app answers to"),
        ("STRIPE_API_KEY", "the Stripe secret key"),
        ("STRIPE_WEBHOOK_SECRET", "signing secret of the Stripe webhook endpoint"),
    ],
)
def test_a_production_run_without_a_required_variable_stops_in_one_line(missing, what):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    result = manage("check", **env)

    assert_one_line(result, f"The environment variable {missing} is required: set it to", what)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-m", "gunicorn", "--check-config"], id="app"),
        pytest.param([sys.executable, "manage.py", "db_worker"], id="worker"),
        pytest.param([sys.executable, "-m", "celery", "-A", "billing", "worker"], id="celery"),
        pytest.param([sys.executable, "manage.py", "migrate"], id="migrate"),
    ],
)
def test_every_command_stops_in_one_line_on_a_missing_variable(command):
    env = {k: v for k, v in PRODUCTION.items() if k != "STRIPE_API_KEY"}

    result = run(command, DJANGO_SETTINGS_MODULE="billing.settings", **env)

    assert_one_line(result, "STRIPE_API_KEY is required")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("SESSION_IDLE_MINUTES", "half an hour", "SESSION_IDLE_MINUTES='half an hour' is not"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD' is not a level"),
        ("DATABASE_URL", "postgres//nohost", "DATABASE_URL is not a database URL"),
        ("TASK_BACKEND", "kafka", "TASK_BACKEND='kafka'"),
    ],
)
def test_a_malformed_variable_stops_in_one_line(name, value, expected):
    result = manage("check", **{**PRODUCTION, name: value})

    assert_one_line(result, expected)


def test_the_demo_without_debug_says_to_set_it_in_one_line():
    result = manage("demo", DEVTOOLS="1")

    assert_one_line(
        result, "SECRET_KEY is required", "manage.py demo runs only locally, with DEBUG=1"
    )


def test_a_short_secret_key_is_refused():
    result = manage("check", **{**PRODUCTION, "SECRET_KEY": "short"})

    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_the_default_database_is_sqlite_in_wal_mode_with_a_busy_timeout():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['ENGINE'], d['NAME'], d['OPTIONS']['timeout'], d['OPTIONS']['init_command'])",
        DEBUG="1",
    )

    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout
    assert str(ROOT / "db.sqlite3") in result.stdout
    assert "journal_mode=WAL" in result.stdout
    assert " 20 " in result.stdout


@pytest.mark.parametrize(("value", "expected"), [(None, "60 True"), ("0", "0 True")])
def test_database_connections_persist_and_are_health_checked(value, expected):
    env = {**PRODUCTION, **({"CONN_MAX_AGE": value} if value is not None else {})}
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])",
        **env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_a_malformed_connection_age_fails_loudly():
    result = manage("check", **{**PRODUCTION, "CONN_MAX_AGE": "forever"})

    assert result.returncode != 0
    assert "CONN_MAX_AGE='forever' is not a whole number" in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "{'server_side_binding': True, 'prepare_threshold': 2, 'sslmode': 'require'}"),
        ("0", "{'sslmode': 'require'}"),
    ],
)
def test_postgresql_statements_are_prepared_unless_a_pooler_forbids_it(value, expected):
    """Beside the URL's own options (TLS, timeouts), which are kept."""
    url = PRODUCTION["DATABASE_URL"] + "?sslmode=require"
    env = {
        **PRODUCTION,
        "DATABASE_URL": url,
        **({"DB_PREPARED_STATEMENTS": value} if value is not None else {}),
    }
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])",
        **env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
