"""The app over HTTP, as it is deployed: gunicorn with the project's gunicorn.conf.py, DEBUG
off, against the benchmark's database, and a load generator light enough to leave the cores
to the server.

The server runs with production settings (DEBUG=0, no devtools, hashed static files collected
into a folder of its own) and the secrets of this process (SECRET_KEY, so that the session
this process creates is one the server reads; STRIPE_WEBHOOK_SECRET, so that the events
signed here verify there). It listens on a free port of 127.0.0.1 only, and the requests say
`X-Forwarded-Proto: https` from 127.0.0.1 as the TLS-terminating load balancer would (the
config's `forwarded_allow_ips`), so HTTPS redirects and secure cookies work as in production.

The load: N connections at once, each a request, its whole answer, and the next (gunicorn's
sync workers close the connection after each answer), in one asyncio thread of raw HTTP/1.1,
for a fixed time after a short warm-up that is not counted. Each answer must be 200; the
others are counted and the first few shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.models import User
from devtools.benchmark.measure import Row, signed_event

HOST = "127.0.0.1"
STARTUP_SECONDS = 60
WARM_UP_SECONDS = 1.0
FAILURES_SHOWN = 3

# A request: the bytes to send, made afresh for each (a webhook is a new signed event).
MakeRequest = Callable[[], bytes]


@dataclass
class Server:
    port: int
    workers: int
    log: Path
    pid: int = 0

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by gunicorn: its master, its workers, and the workers it
        replaced (max_requests) and reaped. None where /proc does not tell (not Linux)."""
        try:
            master = _proc_stat(self.pid)
            total = sum(master[11:15])  # utime, stime, and its reaped children's
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit() and entry.name != str(self.pid):
                    with contextlib.suppress(OSError, IndexError, ValueError):
                        child = _proc_stat(int(entry.name))
                        if child[1] == self.pid:
                            total += child[11] + child[12]
        except OSError:
            return None
        return total / os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> list[int]:
    """/proc/PID/stat's numeric fields after the command name: [state (0), ppid, …]."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return [0, *map(int, fields[1:])]


@dataclass
class Load:
    """What one load run saw: latencies of the 200s, and the rest."""

    seconds: float
    times: list[float] = field(default_factory=list)  # milliseconds, answers that were 200
    failures: list[str] = field(default_factory=list)
    client_cpu_seconds: float = 0.0
    server_cpu_seconds: float | None = None

    @property
    def answered(self) -> int:
        return len(self.times) + len(self.failures)


def database_url() -> str:
    """This process's database as a URL, so the server uses the very same (in the tests, the
    test database, whatever DATABASE_URL says)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


def default_workers() -> int:
    """gunicorn.conf.py's own default: WEB_CONCURRENCY, else 2 × CPUs + 1."""
    return int(os.environ.get("WEB_CONCURRENCY") or (os.cpu_count() or 1) * 2 + 1)


def server_environment(*, port: int, workers: int, static_root: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DEBUG="0",
        DEVTOOLS="0",
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="localhost,127.0.0.1",
        DATABASE_URL=database_url(),
        STRIPE_API_KEY=settings.STRIPE_API_KEY,
        STRIPE_API_BASE=settings.STRIPE_API_BASE,
        STRIPE_WEBHOOK_SECRET=settings.STRIPE_WEBHOOK_SECRET,
        STATIC_ROOT=static_root,
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
        FORWARDED_ALLOW_IPS=HOST,
        LOG_FORMAT="json",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)  # gunicorn.conf.py sets billing.settings
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(*, workers: int) -> Iterator[Server]:
    """gunicorn serving the app until the block ends; its log (JSON lines) in a temporary
    file, shown in the error if it does not come up."""
    base = Path(settings.BASE_DIR)
    scratch = Path(tempfile.mkdtemp(prefix="benchmark-http-"))
    port = free_port()
    env = server_environment(port=port, workers=workers, static_root=str(scratch / "static"))
    server = Server(port=port, workers=workers, log=scratch / "gunicorn.log")
    try:
        # DEBUG off serves the hashed names of collectstatic's manifest, as a deployment does.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity=0"],
            cwd=base,
            env=env,
            check=True,
        )
        with server.log.open("wb") as log:
            process = subprocess.Popen(
                # The config as deployed; only the address differs (loopback, a free port).
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "gunicorn.conf.py",
                    "-b",
                    f"{HOST}:{port}",
                ],
                cwd=base,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            server.pid = process.pid
            wait_until_ready(server, process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def wait_until_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    """Until /readyz answers with the schema current. Its worker check may fail (the
    benchmark runs no task worker; nothing measured here needs one)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    url = f"http://{HOST}:{server.port}/readyz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{server.tail()}")
        request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                body = answer.read()
        except urllib.error.HTTPError as error:
            body = error.read()
        except OSError:
            time.sleep(0.2)
            continue
        found = json.loads(body or b"{}")
        if found.get("migrations") == "ok":
            return
        raise RuntimeError(f"/readyz: {found}")
    raise RuntimeError(f"gunicorn did not answer /readyz in {STARTUP_SECONDS} s:\n{server.tail()}")


def session_cookie(user: User) -> str:
    """A signed-in session of `user`, stored in the database (as a sign-in would), as the
    Cookie header value the browser would send."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def request_bytes(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: localhost",
        "X-Forwarded-Proto: https",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def page_requests(paths: list[str], cookie: str) -> MakeRequest:
    made = [request_bytes("GET", path, headers={"Cookie": cookie}) for path in paths]
    turn = iter(range(sys.maxsize))
    return lambda: made[next(turn) % len(made)]


def webhook_requests(customer_ids: list[str]) -> MakeRequest:
    turn = iter(range(sys.maxsize))

    def make() -> bytes:
        body, signature = signed_event(customer_ids[next(turn) % len(customer_ids)])
        return request_bytes(
            "POST",
            "/stripe/webhook/",
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
            body=body.encode(),
        )

    return make


async def _exchange(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        answer = await reader.read()  # to the end: the server closes after its answer
    finally:
        writer.close()
    status_line = answer.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    return status, answer


async def _drive(server: Server, make: MakeRequest, *, connections: int, seconds: float) -> Load:
    load = Load(seconds=seconds)

    async def connection_loop(until: float, counted: bool) -> None:
        while time.perf_counter() < until:
            request = make()
            began = time.perf_counter()
            try:
                status, answer = await _exchange(server.port, request)
            except OSError as error:
                status, answer = 0, f"{type(error).__name__}: {error}".encode()
            elapsed = (time.perf_counter() - began) * 1000
            if not counted:
                continue
            if status == 200:
                load.times.append(elapsed)
            else:
                load.failures.append(f"{status}: {answer[:300]!r}")

    warm_until = time.perf_counter() + WARM_UP_SECONDS
    await asyncio.gather(*(connection_loop(warm_until, False) for _ in range(connections)))
    cpu, server_cpu = time.process_time(), server.cpu_seconds()
    began = time.perf_counter()
    await asyncio.gather(*(connection_loop(began + seconds, True) for _ in range(connections)))
    load.seconds = time.perf_counter() - began
    load.client_cpu_seconds = time.process_time() - cpu
    server_cpu_after = server.cpu_seconds()
    if server_cpu is not None and server_cpu_after is not None:
        load.server_cpu_seconds = server_cpu_after - server_cpu
    return load


def drive(server: Server, make: MakeRequest, *, connections: int, seconds: float) -> Load:
    return asyncio.run(_drive(server, make, connections=connections, seconds=seconds))


def row(name: str, load: Load, *, connections: int, workers: int, unit: str) -> Row:
    rate = len(load.times) / load.seconds if load.seconds else 0.0
    note = (
        f"{rate:.0f} {unit}/s, {connections} connections, {workers} workers, "
        f"client {load.client_cpu_seconds / load.seconds:.0%} of a core"
    )
    if load.server_cpu_seconds is not None and load.answered:
        note += f", gunicorn {load.server_cpu_seconds / load.answered * 1000:.1f} ms CPU each"
    if load.failures:
        shown = "; ".join(load.failures[:FAILURES_SHOWN])
        note += f"; {len(load.failures)} of {load.answered} not 200: {shown}"
    return Row(name, times=load.times, note=note)


def measure_http(
    *,
    user: User,
    typical: list[str],
    whale: str,
    first_views: list[str],
    customer_ids: list[str],
    workers: int,
    connections: int,
    seconds: float,
    log: Callable[[str], None],
) -> list[Row]:
    """The customer page and signed webhooks, over gunicorn. The page viewed again and again
    (typical customers, a whale: what the page cache keeps after the first view), and viewed
    once each (`first_views`, more customers than the run reaches: every view rendered)."""
    cookie = session_cookie(user)
    runs = [
        ("http: customer page, typical, kept", page_requests(typical, cookie), "req"),
        ("http: customer page, whale, kept", page_requests([whale], cookie), "req"),
        ("http: customer page, first views", page_requests(first_views, cookie), "req"),
        ("http: webhook accepted", webhook_requests(customer_ids), "accepts"),
    ]
    rows = []
    with gunicorn(workers=workers) as server:
        for name, make, unit in runs:
            load = drive(server, make, connections=connections, seconds=seconds)
            for failure in load.failures[:FAILURES_SHOWN]:
                log(f"  {name}: not 200: {failure}")
            rows.append(row(name, load, connections=connections, workers=workers, unit=unit))
    return rows
