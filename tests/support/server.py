"""Real servers for integration tests: Daphne (or uvicorn) subprocesses on free loopback ports.

``LiveServer`` migrates its database, starts the ASGI server, waits until it accepts connections, and can be
stopped and restarted on the same port (for reconnect tests). ``live_database`` gives each test module a fresh
database of the kind the suite runs on (a SQLite file, or a new PostgreSQL database dropped afterwards).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    env["DJANGO_SETTINGS_MODULE"] = "tests.support.live_settings"  # not the suite's own (pytest-django sets it)
    env.pop("REDIS_URL", None)
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Stop ``proc`` with ``sig``, as a process manager does; kill it if it has not exited after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a management command in a separate process with ``env`` (e.g. a third writer process)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True,
    )


class LiveServer:
    """One ASGI server process. ``server`` is "daphne" or "uvicorn" (``command()`` may be overridden, as the
    benchmarks do for their flags and granian)."""

    start_timeout = 20.0
    stop_signal = signal.SIGTERM

    def __init__(self, env: dict[str, str], *, log_dir: Path, server: str = "daphne",
                 app: str = "example_project.asgi:application", port: int | None = None) -> None:
        self.env, self.server, self.app = env, server, app
        self.cwd = ROOT  # the server imports the project from here (the benchmarks' baseline runs another tree)
        self.port = port or free_port()
        self.log_path = log_dir / f"{server}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.server == "uvicorn":
            return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port),
                    "--log-level", "warning", self.app]
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), self.app]

    def popen_kwargs(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` arguments (e.g. a ``preexec_fn``)."""
        return {}

    def start(self) -> LiveServer:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command(), env=self.env, cwd=self.cwd, stdout=log,
                                     stderr=subprocess.STDOUT, **self.popen_kwargs())
        try:
            wait_for_port(self.port, timeout=self.start_timeout, proc=self.proc)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"{self.server} {self.app} did not start: {exc}; log:\n{self.log()[-3000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, self.stop_signal)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def live_database(tmp_dir: Path, postgres_admin_url: str | None) -> Iterator[str]:
    """A fresh, migrated database URL: a SQLite file, or (given the admin URL) a new PostgreSQL database."""
    if postgres_admin_url is None:
        url = f"sqlite:///{tmp_dir / 'live.sqlite3'}"
        manage(base_env(url), "migrate", "--noinput", "-v0")
        yield url
        return
    import psycopg

    name = f"motia_live_{uuid.uuid4().hex[:10]}"
    admin = postgres_admin_url.rstrip("/").rsplit("/", 1)[0]
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin}/{name}"
    try:
        manage(base_env(url), "migrate", "--noinput", "-v0")
        yield url
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_live_database(tmp_dir: Path) -> Iterator[str]:
    """A fresh PostgreSQL database for real processes (``MOTIA_TEST_POSTGRES_URL``, an admin URL); skips (or
    fails under MOTIA_REQUIRE_SERVICES=1) when PostgreSQL is not reachable."""
    from tests.support import services

    url = os.environ.get("MOTIA_TEST_POSTGRES_URL", "postgres://127.0.0.1:5432/postgres")
    reason = services.postgres_unavailable(url)
    if reason:
        services.skip_or_fail(reason)
    with live_database(tmp_dir, url) as db_url:
        yield db_url
