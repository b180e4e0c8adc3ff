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
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.apps import apps
from django.db import connections, router

__all__ = [
    "asyncify", "barrier", "close_connections", "close_pool_connections", "db_call", "db_executor", "dual",
    "in_async_context", "recycle", "sync_caller_above", "to_thread",
]

P = ParamSpec("P")
T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()

#: Awaited before each database call from async code: a step's pipelined writes (``motia_django.writes``) must
#: be committed before the step reads, emits or touches its state.
barrier: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("motia_db_barrier", default=None)


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


def db_executor() -> ThreadPoolExecutor:
    """The ``motia-db`` threads (1 on SQLite, which takes one writer at a time; 8 otherwise)."""
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


def db_call(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """``fn(*args)`` in a ``motia-db`` thread, from the loop: one hop, with the caller's context (about half
    the CPU of ``sync_to_async``). No barrier: the writer of ``motia_django.writes`` uses it for its batches."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, _in_db_thread, loop, fn, args, {})
    return loop.run_in_executor(db_executor(), call)


async def _call_in_db_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    wait_for = barrier.get()
    if wait_for is not None:
        await wait_for()
    return await db_call(functools.partial(fn, **kwargs) if kwargs else fn, *args)


def sync_caller_above() -> bool:
    """True under ``async_to_sync``: a sync caller (its thread, maybe its transaction) waits for us."""
    return getattr(AsyncToSync.executors, "current", None) is not None


def to_thread(fn: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """``fn`` as a coroutine function running in a thread: the sync caller's, else a ``motia-db`` thread."""
    if sync_caller_above():
        return sync_to_async(fn)  # a sync caller above us (its thread, its transaction)
    return functools.partial(_call_in_db_thread, fn)


def asyncify(fn: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """The always-awaitable twin of a sync function or method (``aset`` for ``set``)."""

    async def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return await to_thread(fn)(*args, **kwargs)

    functools.update_wrapper(twin, fn)
    twin.__name__ = twin.__qualname__ = f"a{fn.__name__.lstrip('_')}"
    return twin


def dual(fn: Callable[P, T], afn: Callable[P, Awaitable[T]] | None = None) -> Callable[P, T]:
    """``fn``, made to return an awaitable when called from async code (``afn``'s, by default ``fn`` in a
    thread) and its result otherwise."""
    run_async: Callable[P, Awaitable[T]] = afn if afn is not None else asyncify(fn)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if in_async_context():
            return run_async(*args, **kwargs)  # type: ignore[return-value]  # awaitable in async code
        return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__.lstrip("_")
    return wrapper


def close_connections(timeout: float = 5.0) -> None:
    """Close the ``motia-db`` threads' database connections, each in its own thread (they keep them open
    between calls). Call it before dropping a database the pool may be connected to, e.g. at the end of a
    test session on PostgreSQL."""
    if _executor is not None:
        close_pool_connections(_executor, timeout)


def close_pool_connections(executor: ThreadPoolExecutor, timeout: float = 5.0) -> None:
    """Close the database connections of every thread of ``executor`` (Django's connections are per thread, so
    each thread closes its own). A thread still busy after ``timeout`` keeps its connection."""
    workers = executor._max_workers
    barrier = threading.Barrier(workers)  # one task per thread: each waits until all threads hold one

    def close() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout)
        connections.close_all()

    futures = [executor.submit(close) for _ in range(workers)]
    deadline = time.monotonic() + timeout + 1
    with contextlib.suppress(TimeoutError):
        for future in futures:
            future.result(max(0.0, deadline - time.monotonic()))
