"""The demo's processes: the ports it needs, the task worker as a child process, waiting for
the app to answer, and where the emulator's state is kept between runs."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from billing.models import Customer, Plan
from devtools.stripe_emulator import EmulatorHandle

EMULATOR_API_KEY = "sk_test_emulator"


def default_state_path() -> Path:
    """Next to the SQLite database; for another database, in the project folder (both names
    start with db.sqlite3, which .gitignore covers)."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return Path(f"{database['NAME']}-stripe.pickle")
    return Path(settings.BASE_DIR) / f"db.sqlite3-stripe-{database['NAME']}.pickle"


def has_demo_data() -> bool:
    return Customer.objects.exists() or Plan.objects.exists()


@contextlib.contextmanager
def pointed_at(emulator: EmulatorHandle) -> Iterator[None]:
    """The app's Stripe settings aimed at the emulator for as long as the demo runs."""
    saved = settings.STRIPE_API_BASE, settings.STRIPE_API_KEY
    settings.STRIPE_API_BASE, settings.STRIPE_API_KEY = emulator.url, EMULATOR_API_KEY
    try:
        yield
    finally:
        settings.STRIPE_API_BASE, settings.STRIPE_API_KEY = saved


def wait_for_app(port: int, stop: threading.Event, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            stop.wait(0.2)
    return False


def start_worker(emulator: EmulatorHandle) -> subprocess.Popen:
    """`manage.py db_worker` against the emulator. In its own session, so the terminal's
    Ctrl-C reaches only the demo, which then stops the worker itself (between two tasks)."""
    env = {
        **os.environ,
        "DEBUG": "1",
        "STRIPE_API_BASE": emulator.url,
        "STRIPE_API_KEY": EMULATOR_API_KEY,
        "STRIPE_WEBHOOK_SECRET": settings.STRIPE_WEBHOOK_SECRET,
    }
    command = [
        sys.executable,
        str(Path(settings.BASE_DIR) / "manage.py"),
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--interval",
        "0.5",
        "--verbosity",
        "0",
    ]
    return subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True)


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM handled as Ctrl-C, so the demo stops the same way for both."""
    raise KeyboardInterrupt


def require_free_port(port: int, option: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise CommandError(
                f"127.0.0.1:{port} is not free ({error.strerror}); choose another with {option}."
            ) from None
