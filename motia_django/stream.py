"""The stream API: ``get``, ``set``, ``delete``, ``get_group``/``getGroup``, ``list_groups``, ``update``, ``send``.

Each method is plain in sync code (views, the shell, management commands) and awaitable in async code
(``await context.streams.chatMessage.set(...)`` as in Motia's steps): it returns a coroutine when called in a
thread that runs an event loop. ``aget``, ``aset``, ... are always awaitable. Every write is validated first,
then stored, then published on commit (``motia_django.changes``).

Where the awaitable form runs the sync body (``to_thread``): under ``async_to_sync`` (a sync caller above, e.g.
``run_pending()`` in a test's transaction) it goes back to that caller's thread, as ``sync_to_async`` does.
Otherwise (an async API step on the server's loop, the in-process event runner's loop) it runs on a small
long-lived pool of ``motia-db`` threads: no new thread per request (Django gives every ASGI request its own
thread-sensitive context, hence a new thread at the first ``sync_to_async``), and each of them keeps its
database connection (see ``_recycle``).
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
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.db import connections, router

from motia_django.changes import Change, item_change, publish
from motia_django.exceptions import StreamValidationError
from motia_django.models import MAX_KEY_LENGTH, make_item
from motia_django.ops import apply_ops
from motia_django.schema import Schema
from motia_django.storage import Backend, StoredItem, encode, now_ms

__all__ = ["Stream", "close_connections", "to_thread", "validate_key", "validate_write"]

T = TypeVar("T")


def _running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _db_threads() -> int:
    from motia_django.models import StreamItem

    # SQLite takes one writer at a time: more threads would only queue on its lock (and poll in busy waits).
    return 1 if connections[router.db_for_write(StreamItem)].vendor == "sqlite" else 8


def _db_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=_db_threads(), thread_name_prefix="motia-db")
    return _executor


def _in_db_thread(loop: asyncio.AbstractEventLoop, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
    # As sync_to_async does: the broadcaster's fallback delivery loop is the loop that called into this thread.
    SyncToAsync.threadlocal.main_event_loop = loop
    SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
    try:
        return fn(*args, **kwargs)
    finally:
        for connection in connections.all(initialized_only=True):
            _recycle(connection)


async def _call_in_db_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One hop: ``run_in_executor`` with the caller's context (about half the CPU of ``sync_to_async``:
    37 vs 65 us a call on the benchmark machine)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, _in_db_thread, loop, fn, args, kwargs)
    return await loop.run_in_executor(_db_executor(), call)


def _recycle(connection: Any) -> None:
    """After a call in a ``motia-db`` thread: close a connection that is broken or left in a transaction, or
    older than a positive ``CONN_MAX_AGE``; otherwise keep it. The pool's threads live as long as the process
    and are few, so keeping one connection each cannot leak; Django's advice of ``CONN_MAX_AGE = 0`` under ASGI
    is about request threads, which are thrown away. (Connecting and closing SQLite per call made a request
    about 3x slower; see docs/performance.md, change 2.)"""
    if connection.connection is None:
        return
    if connection.settings_dict.get("CONN_MAX_AGE"):
        connection.close_if_unusable_or_obsolete()
    elif connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
        connection.close()
    elif connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


def close_connections(timeout: float = 5.0) -> None:
    """Close the ``motia-db`` threads' database connections, each in its own thread (they keep them open between
    calls). Call it before dropping a database the pool may be connected to, e.g. at the end of a test session
    on PostgreSQL."""
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


def to_thread(fn: Callable[..., T]) -> Callable[..., Coroutine[Any, Any, T]]:
    """``fn`` as a coroutine function running in a thread: the sync caller's, else a ``motia-db`` thread."""
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return sync_to_async(fn)  # a sync caller above us (its thread, its transaction)
    return functools.partial(_call_in_db_thread, fn)


def dual(fn: Callable[..., T]) -> Callable[..., Any]:
    """Make ``fn`` return an awaitable when called from async code, and its result otherwise."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _running_loop():
            return to_thread(fn)(*args, **kwargs)
        return fn(*args, **kwargs)

    wrapper.sync = fn  # type: ignore[attr-defined]
    return wrapper


def validate_key(label: str, value: Any, *, stream: str = "") -> str:
    """Group and item ids: non-empty strings of at most ``MAX_KEY_LENGTH`` characters, no NUL."""
    if not isinstance(value, str):
        raise StreamValidationError(f"{label} must be a string, got {type(value).__name__}", stream=stream)
    if not value:
        raise StreamValidationError(f"{label} must not be empty", stream=stream)
    if len(value) > MAX_KEY_LENGTH:
        raise StreamValidationError(f"{label} is longer than {MAX_KEY_LENGTH} characters", stream=stream)
    if "\x00" in value:
        raise StreamValidationError(f"{label} must not contain NUL characters", stream=stream)
    return value


def validate_write(stream_name: str, data: Any) -> dict[str, Any]:
    """Validate ``data`` against the registered stream's schema (the ORM path uses this too)."""
    from motia_django.registry import streams

    return streams[stream_name].validate(data)


def _tag(exc: StreamValidationError, stream: str) -> StreamValidationError:
    if not exc.stream:
        exc.stream = stream
        exc.args = (f"{stream}: {exc.args[0]}",)
    return exc


class Stream:
    """One registered stream. Get it with ``streams["name"]``, ``streams.name`` or ``context.streams.name``."""

    def __init__(
        self,
        name: str,
        schema: Schema,
        backend: Backend,
        *,
        can_access: Callable[..., Any] | None = None,
        origin: str = "",
        config: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.schema = schema
        self.backend = backend
        self.can_access = can_access
        self.origin = origin
        self.config = config or {}

    def __repr__(self) -> str:
        return f"<Stream {self.name!r} from {self.origin}>"

    # --- helpers --------------------------------------------------------------------------------------------

    def validate(self, data: Any) -> dict[str, Any]:
        """Return the data to store, or raise ``StreamValidationError`` naming each bad field."""
        if not isinstance(data, dict):
            raise StreamValidationError(
                f"data must be a JSON object (dict), got {type(data).__name__}", stream=self.name
            )
        try:
            validated = self.schema.validate(data)
        except StreamValidationError as exc:
            raise _tag(exc, self.name) from None
        return validated

    def _keys(self, group_id: Any, id: Any = None, *, item: bool = True) -> None:
        validate_key("group id", group_id, stream=self.name)
        if item:
            validate_key("item id", id, stream=self.name)

    def reference(self, group_id: str, id: str) -> dict[str, Any]:
        return {"type": "state-stream", "streamName": self.name, "groupId": group_id, "id": id}

    item = staticmethod(make_item)

    def _publish(self, kind: str, group_id: str, id: str, stored: StoredItem) -> None:
        publish(item_change(kind, self.name, group_id, id, self.item(id, stored.data), stored.timestamp),
                using=self.backend.db_alias())

    # --- the API (sync bodies; ``dual`` makes them awaitable in async code) ---------------------------------

    @dual
    def get(self, group_id: str, id: str) -> dict[str, Any] | None:
        self._keys(group_id, id)
        stored = self.backend.get(self.name, group_id, id)
        return None if stored is None else self.item(id, stored.data)

    @dual
    def set(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Replace (or create) the item; returns it with ``id`` and the ``__motia`` reference."""
        self._keys(group_id, id)
        data = self.validate(data)
        try:
            encoded = encode(data)
        except (TypeError, ValueError) as exc:
            raise StreamValidationError(f"data is not JSON: {exc}", stream=self.name) from None
        stored = self.backend.set(self.name, group_id, id, data, encoded)
        self._publish("create" if stored.created else "update", group_id, id, stored)
        return {**self.item(id, stored.data), "__motia": self.reference(group_id, id)}

    @dual
    def delete(self, group_id: str, id: str) -> dict[str, Any] | None:
        """Delete the item; returns what was deleted, or None (and broadcasts nothing) if it did not exist."""
        self._keys(group_id, id)
        stored = self.backend.delete(self.name, group_id, id)
        if stored is None:
            return None
        self._publish("delete", group_id, id, stored)
        return self.item(id, stored.data)

    @dual
    def get_group(self, group_id: str) -> list[dict[str, Any]]:
        """The group's items, in creation order."""
        self._keys(group_id, item=False)
        return [self.item(id, stored.data) for id, stored in self.backend.get_group(self.name, group_id)]

    getGroup = get_group

    @dual
    def list_groups(self) -> list[str]:
        return self.backend.list_groups(self.name)

    listGroups = list_groups

    @dual
    def update(self, group_id: str, id: str, ops: Any) -> dict[str, Any]:
        """Apply ``ops`` atomically (see ``motia_django.ops``); a missing item is created from ``{}``."""
        self._keys(group_id, id)

        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            try:
                new = apply_ops(current, ops)
            except StreamValidationError as exc:
                raise _tag(exc, self.name) from None
            return self.validate(new)

        stored = self.backend.update(self.name, group_id, id, change)
        self._publish("create" if stored.created else "update", group_id, id, stored)
        return {**self.item(id, stored.data), "__motia": self.reference(group_id, id)}

    @dual
    def send(self, channel: dict[str, Any], event: dict[str, Any]) -> None:
        """Send an ephemeral event to the group's (or, with ``id``, the item's) subscribers; nothing stored."""
        if not isinstance(channel, dict):
            raise StreamValidationError("channel must be an object with groupId (and optional id)", stream=self.name)
        group_id = channel.get("groupId", channel.get("group_id"))
        self._keys(group_id, item=False)
        assert isinstance(group_id, str)
        id = channel.get("id")
        if id is not None:
            validate_key("channel id", id, stream=self.name)
        if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not event["type"]:
            raise StreamValidationError("event must be an object with a non-empty string type", stream=self.name)
        if "data" not in event:
            raise StreamValidationError("event must have data", stream=self.name)
        try:
            encode(event["data"])
        except (TypeError, ValueError) as exc:
            raise StreamValidationError(f"event data is not JSON: {exc}", stream=self.name) from None
        body = {"type": event["type"], "data": event["data"]}
        publish(Change(self.name, group_id, id, {"type": "event", "event": body}, now_ms()),
                using=self.backend.db_alias())

    # --- explicit async twins -------------------------------------------------------------------------------

    async def aget(self, group_id: str, id: str) -> dict[str, Any] | None:
        return await to_thread(self.get.sync)(self, group_id, id)  # type: ignore[attr-defined]

    async def aset(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
        return await to_thread(self.set.sync)(self, group_id, id, data)  # type: ignore[attr-defined]

    async def adelete(self, group_id: str, id: str) -> dict[str, Any] | None:
        return await to_thread(self.delete.sync)(self, group_id, id)  # type: ignore[attr-defined]

    async def aget_group(self, group_id: str) -> list[dict[str, Any]]:
        return await to_thread(self.get_group.sync)(self, group_id)  # type: ignore[attr-defined]

    async def alist_groups(self) -> list[str]:
        return await to_thread(self.list_groups.sync)(self)  # type: ignore[attr-defined]

    async def aupdate(self, group_id: str, id: str, ops: Any) -> dict[str, Any]:
        return await to_thread(self.update.sync)(self, group_id, id, ops)  # type: ignore[attr-defined]

    async def asend(self, channel: dict[str, Any], event: dict[str, Any]) -> None:
        await to_thread(self.send.sync)(self, channel, event)  # type: ignore[attr-defined]
