"""The app as deployed: gunicorn with production settings, static files by WhiteNoise, and the
health and readiness checks."""

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from billing.models import ReconcileRun
from tests.test_settings import PRODUCTION, TEST_ONLY

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def gunicorn_env(django_db_setup, django_db_blocker, tmp_path):
    """The environment of a deployment, on this test's database."""
    with django_db_blocker.unblock():
        database = connection.settings_dict["NAME"]
    base = {name: value for name, value in os.environ.items() if name not in TEST_ONLY}
    return {
        **base,
        **PRODUCTION,
        "DATABASE_URL": PRODUCTION["DATABASE_URL"].rsplit("/", 1)[0] + f"/{database}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(tmp_path / "static"),
        "WEB_CONCURRENCY": "2",
        "DEVTOOLS": "0",
    }


@pytest.fixture
def gunicorn(gunicorn_env, tmp_path):
    """gunicorn started as the README says, on this test's database and a free port."""
    env = gunicorn_env
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collect.returncode == 0, collect.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            get(f"{url}/healthz")
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield url, tmp_path / "static"
    finally:
        server.terminate()
        # Longer than gunicorn's graceful_timeout (30 s): a worker still booting when the
        # test ends may miss the shutdown, and the master waits that long before killing it.
        out, err = server.communicate(timeout=60)
    # One JSON line per request in gunicorn's access log.
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "access"]
    assert "/healthz" in {line["path"] for line in access}, err
    assert all(set(line) >= {"request_id", "method", "status", "duration_ms"} for line in access)


def test_gunicorn_serves_the_app_with_production_settings(gunicorn):
    url, _ = gunicorn
    https = {"X-Forwarded-Proto": "https"}

    health = get(f"{url}/healthz")
    login = get(f"{url}/login/", **https)
    plain_http = get(f"{url}/login/")

    assert health[0] == 200
    assert json.loads(health[2]) == {"status": "ok"}
    assert login[0] == 200
    assert b'name="username"' in login[2]
    assert login[1]["Strict-Transport-Security"].startswith("max-age=31536000")
    assert plain_http[0] == 301  # everything but the probes is HTTPS only


def test_static_files_are_hashed_compressed_and_cached_for_ever(gunicorn):
    url, static_root = gunicorn
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["css/app.css"]

    status, headers, body = get(
        f"{url}/static/{hashed}", **{"Accept-Encoding": "gzip", "X-Forwarded-Proto": "https"}
    )

    assert hashed != "css/app.css"
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]
    assert body[:2] == b"\x1f\x8b"


@pytest.mark.django_db
def test_readyz_waits_for_the_task_worker(client):
    waiting = client.get("/readyz")
    ReconcileRun.objects.create(
        started_at=timezone.now() - dt.timedelta(seconds=5), finished_at=timezone.now()
    )
    ready = client.get("/readyz")

    assert waiting.status_code == 503
    assert waiting.json()["migrations"] == "ok"
    assert "is the task worker running?" in waiting.json()["worker"]
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "migrations": "ok", "worker": "ok"}


@pytest.mark.django_db
def test_readyz_is_not_ready_when_the_worker_has_been_quiet(client):
    ReconcileRun.objects.create(
        started_at=timezone.now() - dt.timedelta(minutes=16),
        finished_at=timezone.now() - dt.timedelta(minutes=16),
    )

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "no periodic reconciliation since" in response.json()["worker"]


def test_loading_the_app_opens_no_connection_and_starts_no_thread(gunicorn_env):
    """gunicorn loads the app in its master and forks the workers from it (preload_app): a
    connection or a thread of the master's would be shared by, or missing in, every worker."""
    probe = (
        "import json, threading\n"
        "import billing.wsgi\n"
        "from django.db import connections\n"
        "print(json.dumps({'threads': threading.active_count(),"
        " 'connections': [c.alias for c in connections.all() if c.connection is not None]}))\n"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=gunicorn_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout.splitlines()[-1]) == {"threads": 1, "connections": []}
