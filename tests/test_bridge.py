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


async def test_writes_after_the_database_dropped_the_pools_connections():
    """The motia-db threads keep their connections; one the database closed (a restart, an idle timeout) is
    replaced before its next use (CONN_HEALTH_CHECKS, as the example sets it), so no write fails."""
    from asgiref.sync import sync_to_async
    from django.db import connection

    from motia_django.stream.registry import streams
    from tests.support.realtime import chat

    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")

    def terminate_others() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()")
            return int(cursor.fetchone()[0])

    for i in range(8):  # a write through each of the pool's threads, as far as they are used
        await streams.chatMessage.set("dropped", f"m{i}", chat(f"m{i}", "before"))
    assert await sync_to_async(terminate_others)() >= 1
    for i in range(8):
        await streams.chatMessage.set("dropped", f"n{i}", chat(f"n{i}", "after"))
    assert len(await streams.chatMessage.get_group("dropped")) == 16
