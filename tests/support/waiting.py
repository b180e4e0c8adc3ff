"""Waiting without sleeps of fixed length, and running code in several threads at once (the concurrency tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections


def wait_for(condition: Callable[[], Any], timeout: float = 10, what: str = "condition",
             interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something true (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def in_threads(work: Callable[[], None], count: int = 8, timeout: float = 60) -> list[BaseException]:
    """Run ``work`` in ``count`` threads released together (each with its own database connection, closed at the
    end); returns what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(10)
            work()
        except BaseException as exc:  # reported to the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors
