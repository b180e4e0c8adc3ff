"""The one bridge between async code and the database (as ``channels/db.py`` is for Channels).

``dual(fn)`` gives the public calling convention of the stream, state and emit APIs: plain in sync code (views,
the shell, management commands) and awaitable in async code (``await context.streams.chatMessage.set(...)`` as
in Motia's steps). ``asyncify(fn)`` is the always-awaitable twin (``aset``...). Both keep ``fn``'s signature
for type checkers; in type-checked async code prefer the ``a*`` twins, whose type says they are awaitable.

Where the awaitable form runs the sync body: under ``async_to_sync`` (a sync caller above, e.g.
``run_pending()`` inside a test's transaction) it goes back to that caller's thread, as ``sync_to_async``
does. Otherwise it runs on a small long-lived pool of ``motia-db`` threads: one hop, no new thread per request
(Django gives every ASGI request a fresh thread-sensitive context), and each thread keeps its database
connection between calls (see ``recycle``; docs/performance.md says what that bought).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.apps import apps
from django.db import connections, router

__all__ = ["asyncify", "close_connections", "dual", "in_async_context", "recycle", "to_thread"]

P = ParamSpec("P")
T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def in_async_context() -> bool:
    """True when called from a thread that runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _db_threads() -> int:
    # SQLite takes one writer at a time: more threads would only queue on its lock (and poll in busy waits).
    alias = router.db_for_write(apps.get_model("motia_django", "StreamItem"))
    return 1 if connections[alias].vendor == "sqlite" else 8


def _db_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=_db_threads(), thread_name_prefix="motia-db")
    return _executor


def recycle(connection: Any) -> None:
    """After a call in a long-lived thread: close a connection that is broken or left in a transaction, or
    older than a positive ``CONN_MAX_AGE``; otherwise keep it. The pool's threads are few and live as long as
    the process, so one connection each cannot leak (Django's ``CONN_MAX_AGE = 0`` advice under ASGI is about
    request threads, which are thrown away)."""
    if connection.connection is None:
        return
    connection.queries_log.clear()  # DEBUG's query log: no request ends here to reset it
    if connection.settings_dict.get("CONN_MAX_AGE"):
        connection.close_if_unusable_or_obsolete()
    elif connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
        connection.close()
    elif connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


def _in_db_thread(loop: asyncio.AbstractEventLoop, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
    # As sync_to_async does: record the loop that called in (the broadcaster delivers on it when no server
    # loop is known).
    SyncToAsync.threadlocal.main_event_loop = loop
    SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
    try:
        return fn(*args, **kwargs)
    finally:
        for connection in connections.all(initialized_only=True):
            recycle(connection)


async def _call_in_db_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One hop: ``run_in_executor`` with the caller's context (about half the CPU of ``sync_to_async``)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, _in_db_thread, loop, fn, args, kwargs)
    return await loop.run_in_executor(_db_executor(), call)


def to_thread(fn: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """``fn`` as a coroutine function running in a thread: the sync caller's, else a ``motia-db`` thread."""
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return sync_to_async(fn)  # a sync caller above us (its thread, its transaction)
    return functools.partial(_call_in_db_thread, fn)


def asyncify(fn: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """The always-awaitable twin of a sync function or method (``aset`` for ``set``)."""

    async def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return await to_thread(fn)(*args, **kwargs)

    functools.update_wrapper(twin, fn)
    twin.__name__ = twin.__qualname__ = f"a{fn.__name__.lstrip('_')}"
    return twin


def dual(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn``, made to return an awaitable when called from async code and its result otherwise."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if in_async_context():
            return to_thread(fn)(*args, **kwargs)  # type: ignore[return-value]  # awaitable in async code
        return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__.lstrip("_")
    return wrapper


def close_connections(timeout: float = 5.0) -> None:
    """Close the ``motia-db`` threads' database connections, each in its own thread (they keep them open
    between calls). Call it before dropping a database the pool may be connected to, e.g. at the end of a
    test session on PostgreSQL."""
    executor = _executor
    if executor is None:
        return
    workers = executor._max_workers
    barrier = threading.Barrier(workers)  # one task per thread: each waits until all threads hold one

    def close() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout)
        connections.close_all()

    for future in [executor.submit(close) for _ in range(workers)]:
        future.result(timeout + 5)
