"""Each token may send API_RATE_PER_SECOND requests a second, in bursts of as many; beyond,
429 with Retry-After. The count is in the database, so it holds across processes."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.models import ApiToken
from support.models import Ticket
from tests.api.conftest import Api, problem, token_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rate(settings):
    settings.API_RATE_PER_SECOND = 10
    return 10


def test_a_burst_of_the_rate_passes_and_the_next_request_waits(db, client, rate, support_user):
    api = Api(client)
    token = token_for(support_user)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        burst = [api.get(token, "/reason-codes").status_code for _ in range(rate)]
        refused = api.get(token, "/reason-codes")
        clock.shift(dt.timedelta(seconds=0.1))
        later = api.get(token, "/reason-codes")

    assert burst == [200] * rate
    assert refused.status_code == 429
    assert problem(refused)["type"].endswith(":rate-limited")
    assert refused["Retry-After"] == "1"
    assert later.status_code == 200  # one request every 1/rate seconds after the burst


def test_writes_count_too_and_a_refused_request_runs_nothing(db, client, rate, support_user):
    api = Api(client)
    token = token_for(support_user)

    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(rate):
            api.get(token, "/customers")
        refused = api.post(
            token,
            "/tickets",
            {"external_ref": "ZD-5", "subject": "Hi", "requester_email": "a@example.com"},
        )

    assert refused.status_code == 429
    assert not Ticket.objects.exists()


def test_the_rate_is_per_token(db, client, rate, support_user, finance_user):
    api = Api(client)
    busy, quiet = token_for(support_user), token_for(finance_user)

    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(rate + 1):
            api.get(busy, "/reason-codes")
        busy_again = api.get(busy, "/reason-codes")
        other = api.get(quiet, "/reason-codes")

    assert busy_again.status_code == 429
    assert other.status_code == 200


def test_the_count_holds_across_processes(committed_db, client, settings, support_user):
    settings.API_RATE_PER_SECOND = 0.01  # one request, then one every 100 s
    api = Api(client)
    token = token_for(support_user)
    row = ApiToken.objects.get()

    here = api.get(token, "/reason-codes")
    elsewhere = admit_in_another_process(row.pk, rate=0.01)

    assert here.status_code == 200
    assert elsewhere.startswith("refused"), elsewhere
    assert 1 <= int(elsewhere.split()[1]) <= 100  # of the 100 s the first request began


def admit_in_another_process(token_pk: int, *, rate: float) -> str:
    """Count one request of the token from a separate Python process on the same database."""
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    code = (
        "import django; django.setup()\n"
        "from django.utils import timezone\n"
        "from accounts.models import ApiToken\n"
        "from accounts.tokens import admit\n"
        f"result = admit(ApiToken.objects.get(pk={token_pk}), rate={rate}, now=timezone.now())\n"
        "print('allowed' if result.allowed else f'refused {result.retry_after}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "billing.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
