"""The checks CI makes besides the tests: lint, formatting and migrations."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_finds_nothing():
    result = ruff("check", "--output-format", "concise", ".")

    assert result.returncode == 0, result.stdout


def test_code_is_formatted():
    result = ruff("format", "--check", ".")

    assert result.returncode == 0, result.stdout


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


def test_mypy_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "billing", "accounts", "support", "devtools"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DEBUG": "1"},
    )

    assert result.returncode == 0, result.stdout


def test_the_import_contracts_hold():
    """pyproject.toml's import-linter contracts: support → billing → accounts, nothing of the
    product imports devtools, and no import cycles among the product's modules."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout
