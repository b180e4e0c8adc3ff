"""The one bridge between async code and threads (as ``channels/db.py`` is for Channels).

Every hop from async code to the database, to a user's sync hook or to a blocking call goes through here:

- ``to_thread(fn)``: a sync body in a thread: under ``async_to_sync`` (a sync caller above, e.g.
  ``run_pending()`` inside a test's transaction) back in that caller's thread, as ``sync_to_async`` does;
  otherwise on a small long-lived pool of ``motia-db`` threads: one hop, no new thread per request (Django gives
  every ASGI request a fresh thread-sensitive context), and each thread keeps its database connection between
  calls (see ``recycle``; docs/performance.md says what that bought). ``db_call`` is its barrier-free core,
  for the write queue. ``read(fn, *args)`` runs a join's read on ``motia-read`` threads of their own, so that
  joins never queue behind writes.
- ``call_hook(fn, *args)``: a project's hook (``canAccess``, ``onJoin``, ``AUTHENTICATE``...), sync or async;
  sync ones run as Channels' ``database_sync_to_async`` runs them (connections closed before and after).
- ``request_thread(fn)``: Django's rule for a request's sync code (DRF's ``dispatch`` of a step);
  ``run_async(fn)`` the other way, an async handler called from sync code.
- ``in_pool(pool, fn, *args)``: a runner's own handler threads; ``blocking(fn, *args)`` a blocking call that
  touches no database.

``dual(fn)`` gives the calling convention of the stream, state and emit APIs: plain in sync code (views, the
shell, management commands) and awaitable in async code (``await context.streams.chatMessage.set(...)`` as in
Motia's steps). ``asyncify(fn)`` is the always-awaitable twin (``aset``...). A ``dual`` method is typed as its
sync body; type-checked async code uses the ``a*`` twins or ``AsyncFlowContext``, whose types say they are
awaitable.

Hops the other way (a thread waking a loop with ``call_soon_threadsafe``) are not bridges: the hub, the channel
layer's loop (``motia_django.layers``) and the runner's thread each own the loop they wake.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from django.apps import apps
from django.db import connections, router

from motia_django.compat import record_caller_loop, sync_caller_waiting

__all__ = [
    "ThreadPool", "asyncify", "barrier", "blocking", "call_hook", "close_connections", "close_pool_connections",
    "db_call", "db_executor", "dual", "in_async_context", "in_pool", "read", "read_executor", "recycle",
    "request_thread", "run_async",
    "sync_caller_above", "to_thread",
]

P = ParamSpec("P")
T = TypeVar("T")

class ThreadPool(ThreadPoolExecutor):
    """A pool of long-lived threads that knows its size (``close_pool_connections`` reaches each thread)."""

    def __init__(self, size: int, name: str) -> None:
        super().__init__(max_workers=size, thread_name_prefix=name)
        self.size = size


_executor: ThreadPool | None = None
_executor_lock = threading.Lock()

#: Awaited before each database call from async code: a step's pipelined writes
#: (``motia_django.stream.write_queue``) must be committed before the step reads, emits or touches its state.
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


def db_executor() -> ThreadPool:
    """The ``motia-db`` threads (1 on SQLite, which takes one writer at a time; 8 otherwise)."""
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPool(_db_threads(), "motia-db")
    return _executor


_readers: ThreadPool | None = None


def _read_threads() -> int:
    connection = connections[router.db_for_read(apps.get_model("motia_django", "StreamItem"))]
    if connection.vendor == "sqlite":  # WAL lets readers run beside the writer; an in-memory database does not
        return 0 if getattr(connection, "is_in_memory_db", lambda: True)() else 2
    return 4


def read_executor() -> ThreadPool:
    """The ``motia-read`` threads, for the reads a join makes (its snapshot): a join never waits behind the write
    queue's batches. Where readers would be locked out by a writer anyway (SQLite in memory), the ``motia-db``
    threads."""
    global _readers
    if _readers is None:
        size = _read_threads()
        shared = None if size else db_executor()  # outside the lock, which db_executor() takes
        with _executor_lock:
            if _readers is None:
                _readers = shared if shared is not None else ThreadPool(size, "motia-read")
    return _readers


async def read(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, a read, in a ``motia-read`` thread (the sync caller's under ``async_to_sync``)."""
    if sync_caller_above():
        return await sync_to_async(fn)(*args)
    return await in_pool(read_executor(), fn, *args)


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
    record_caller_loop(loop)  # as sync_to_async does (the channel layer is used on it when no server loop is known)
    try:
        return fn(*args, **kwargs)
    finally:
        for connection in connections.all(initialized_only=True):
            recycle(connection)


def in_pool(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """``fn(*args)`` in a thread of ``pool``, from the loop: one hop, with the caller's context (about half the
    CPU of ``sync_to_async``); the thread's connections are recycled afterwards."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, _in_db_thread, loop, fn, args, {})
    return loop.run_in_executor(pool, call)


def db_call(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """``fn(*args)`` in a ``motia-db`` thread. No barrier: the write queue
    (``motia_django.stream.write_queue``) uses it for its batches."""
    return in_pool(db_executor(), fn, *args)


async def _call_in_db_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    wait_for = barrier.get()
    if wait_for is not None:
        await wait_for()
    return await db_call(functools.partial(fn, **kwargs) if kwargs else fn, *args)


def sync_caller_above() -> bool:
    """True under ``async_to_sync``: a sync caller (its thread, maybe its transaction) waits for us."""
    return sync_caller_waiting()


def to_thread(fn: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """``fn`` as a coroutine function running in a thread: the sync caller's, else a ``motia-db`` thread."""
    if sync_caller_above():
        return sync_to_async(fn)  # a sync caller above us (its thread, its transaction)
    return functools.partial(_call_in_db_thread, fn)


async def call_hook(fn: Any, *args: Any) -> Any:
    """Call a project's hook, sync or async; a sync one runs in a thread (it may use the ORM), as Channels'
    ``database_sync_to_async`` runs it. An awaitable a sync hook returns is awaited."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    result = await database_sync_to_async(fn)(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def request_thread(fn: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """``fn`` run as Django runs a request's sync code from async code (``sync_to_async``, thread-sensitive:
    the request's own thread)."""
    return sync_to_async(fn)


def run_async(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """An async function called from sync code (``async_to_sync``: on the caller's loop if there is one)."""
    return async_to_sync(fn)


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """A blocking call that touches no database (stopping a runner, closing a pool), off the loop."""
    return await asyncio.to_thread(fn, *args)


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
    for pool in {id(p): p for p in (_executor, _readers) if p is not None}.values():
        close_pool_connections(pool, timeout)


def close_pool_connections(executor: ThreadPool, timeout: float = 5.0) -> None:
    """Close the database connections of every thread of ``executor`` (Django's connections are per thread, so
    each thread closes its own). A thread still busy after ``timeout`` keeps its connection."""
    workers = executor.size
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
