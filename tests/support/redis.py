"""A Redis server of the test's own, on a free port: tests that stop and restart Redis must not touch the shared
one (Redis database numbers do not separate pub/sub channels)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.server import free_port, stop_process, wait_for_port
from tests.support.services import skip_or_fail


class OwnRedis:
    """``redis-server`` on 127.0.0.1:<free port>, nothing kept on disk; ``stop()`` and ``start()`` again."""

    def __init__(self, log_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed")
        self.binary = str(binary)
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.log_dir), "--logfile", str(self.log_dir / f"redis-{self.port}.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=10, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None


@contextlib.contextmanager
def own_redis(log_dir: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(log_dir).start()
    try:
        yield redis
    finally:
        redis.stop()
