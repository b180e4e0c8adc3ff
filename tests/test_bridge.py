"""The sync/async bridge: dual calls, the always-awaitable twins, and the long-lived database thread pool."""

from __future__ import annotations

import threading

import pytest

from motia_django.bridge import asyncify, close_connections, dual, in_async_context

pytestmark = pytest.mark.django_db(transaction=True)


def _where() -> bool:
    return in_async_context()


def test_dual_is_plain_in_sync_code():
    assert dual(_where)() is False


async def test_dual_is_awaitable_in_async_code_and_runs_in_a_thread():
    assert await dual(_where)() is False  # the body ran where no loop runs
    assert asyncify(_where).__name__ == "awhere"
    assert await asyncify(_where)() is False


async def test_awaited_calls_run_on_a_long_lived_pool_whose_threads_keep_their_connection():
    # No sync caller above: motia-db threads (not a new thread per request), each reusing its connection.
    from django.db import connection

    from motia_django.bridge import to_thread

    def where() -> tuple[str, int]:
        connection.ensure_connection()
        return threading.current_thread().name, id(connection.connection)

    seen = {await to_thread(where)() for _ in range(20)}
    threads = {name for name, _ in seen}
    assert all(name.startswith("motia-db") for name in threads)
    assert len(seen) == len(threads) <= 8  # one connection per thread, reused



def test_close_connections_closes_the_pool_threads_connections():
    close_connections()  # and the pool still works afterwards
    assert dual(_where)() is False
