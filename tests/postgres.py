"""Find the PostgreSQL server the tests run on, or start a throwaway one.

In order: TEST_DATABASE_URL if set; the server answering on 127.0.0.1:5432 (user postgres);
else a private cluster from the local PostgreSQL binaries (initdb, pg_ctl) in a temporary
folder, stopped and removed when the test session ends; else one line saying what to install.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5432
DATABASE = "billing"


class PostgresUnavailable(RuntimeError):
    pass


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_cluster(binaries: Path) -> str:
    """initdb + pg_ctl start in a temporary folder; as root, run them as the postgres user
    (PostgreSQL refuses to run as root)."""
    as_postgres: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="billing-test-pg-"))
    if os.geteuid() == 0:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, user="postgres")
    data = folder / "data"
    port = _free_port()

    def run(*command: str) -> None:
        result = subprocess.run([*as_postgres, *command], capture_output=True, text=True)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{Path(command[0]).name} failed: {(result.stderr or result.stdout).strip()}"
            )

    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
    run(
        str(binaries / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )

    def stop() -> None:
        subprocess.run(
            [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"


def database_url_for_tests() -> str:
    if url := os.environ.get("TEST_DATABASE_URL"):
        return url
    if _answers(DEFAULT_HOST, DEFAULT_PORT):
        return f"postgres://postgres@{DEFAULT_HOST}:{DEFAULT_PORT}/{DATABASE}"
    binaries = _binaries()
    if binaries is None:
        raise PostgresUnavailable(
            "The tests need PostgreSQL: nothing answers on 127.0.0.1:5432 and no initdb/pg_ctl "
            "was found; install PostgreSQL (apt-get install postgresql) or set TEST_DATABASE_URL."
        )
    return _start_cluster(binaries)
