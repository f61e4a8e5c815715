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


@pytest.mark.parametrize("missing", ["SECRET_KEY", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"])
def test_a_production_run_without_a_required_variable_fails_loudly(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    result = manage("check", **env)

    assert result.returncode != 0
    assert f"The environment variable {missing} is required." in result.stderr


def test_a_malformed_boolean_fails_loudly():
    result = manage("check", DEBUG="maybe")

    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


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
