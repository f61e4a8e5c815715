"""``python -m devtools.stripe_emulator`` runs in the foreground and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import stripe

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_command_serves_the_api_and_stops_on_sigterm():
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.stripe_emulator", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline() if process.stdout else ""
        client = stripe.StripeClient(
            "sk_test_cli", base_addresses={"api": f"http://127.0.0.1:{port}"}, max_network_retries=0
        )
        customer = client.v1.customers.create({"email": "cli@example.com"})
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/_emulator/state/customer"
        ) as response:
            state = json.loads(response.read())

        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    assert f"http://127.0.0.1:{port}" in banner
    assert [c["id"] for c in state["customer"]] == [customer.id]
    assert code == 0


def test_state_dump_lists_objects_by_kind(client, emulator):
    client.v1.customers.create({"email": "a@example.com"})
    started = time.monotonic()

    state = emulator.state()

    assert [c["email"] for c in state["customer"]] == ["a@example.com"]
    assert time.monotonic() - started < 1
