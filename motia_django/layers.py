"""The channel layer from any thread: which event loop talks to it, in order.

``submit(send)`` runs a channel-layer call (the relay's sends, workers' wake-ups) on one long-lived loop per
process, in the order of the calls, and never raises: what caused the send (a write, an emit) is already
committed. ``is_local_layer`` tells a layer that cannot reach other processes. ``process_origin()`` names this
process in what it sends, so that it can skip its own changes when they come back: it is per process, and a
forked child (gunicorn ``--preload``, a ``multiprocessing`` fork) gets a name of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from motia_django.compat import caller_loop

__all__ = ["SEND_TIMEOUT", "attach_loop", "is_local_layer", "process_origin", "submit"]

logger = logging.getLogger("motia_django.broadcast")

# A channel layer belongs to an event loop: the in-memory layer's queues are asyncio objects of the loop its
# consumers wait on (touching them from another thread or loop can lose wake-ups), and channels-redis keeps one
# connection pool per loop. So each change is handed to one long-lived loop, never to a throw-away loop made by
# ``async_to_sync``:
#
# 1. the loop the WebSocket consumers of this process run on (the hub's, registered by ``attach_loop``);
# 2. else the loop that called into this thread (``sync_to_async`` records it), e.g. a web request's;
# 3. else the loop running in this thread;
# 4. else (a shell, a management command, a worker thread of its own) a dedicated broadcast thread, and the
#    caller waits until the layer has the message, so a process that exits right after a write still sends it.
#
# In cases 1-3 the caller does not wait: the message goes on that loop's ordered queue (``call_soon_threadsafe``
# keeps the order of calls), drained by a single task, so a create never arrives after its update.

_server_loop: weakref.ReferenceType[asyncio.AbstractEventLoop] | None = None
_pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, deque[Callable[[], Awaitable[Any]]]] = (
    weakref.WeakKeyDictionary()
)
_tasks: set[asyncio.Task[None]] = set()
_own_loop: asyncio.AbstractEventLoop | None = None
_own_lock = threading.Lock()
SEND_TIMEOUT = 10.0


def attach_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Talk to the channel layer on ``loop`` (where this process's stream consumers run)."""
    global _server_loop
    if _server_loop is None or _server_loop() is not loop:
        _server_loop = weakref.ref(loop)


def _alive(loop: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop | None:
    return loop if loop is not None and not loop.is_closed() and loop.is_running() else None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _delivery_loop() -> asyncio.AbstractEventLoop | None:
    return (
        _alive(_server_loop() if _server_loop is not None else None)
        or _alive(caller_loop())
        or _running_loop()
    )


async def _drain(loop: asyncio.AbstractEventLoop, queue: deque[Callable[[], Awaitable[Any]]]) -> None:
    try:
        while queue:
            send = queue.popleft()
            try:
                await send()
            except Exception:
                logger.exception("Could not broadcast: the channel layer send failed")
    finally:
        _pending.pop(loop, None)


def _enqueue(loop: asyncio.AbstractEventLoop, send: Callable[[], Awaitable[Any]]) -> None:
    """Runs on ``loop``: queue ``send`` behind earlier ones; start the draining task if none runs."""
    queue = _pending.get(loop)
    if queue is not None:
        queue.append(send)
        return
    queue = _pending[loop] = deque([send])
    task = loop.create_task(_drain(loop, queue))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def _broadcast_loop() -> asyncio.AbstractEventLoop:
    global _own_loop
    with _own_lock:
        if _own_loop is None or _own_loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="motia-broadcast", daemon=True).start()
            _own_loop = loop
        return _own_loop


def submit(send: Callable[[], Awaitable[Any]]) -> None:
    """Run ``send()`` (a channel-layer call) on this process's delivery loop, in order with earlier calls.

    Errors are logged, never raised: the write that caused the send is already committed.
    """
    loop = _delivery_loop()
    if loop is not None:
        if loop is _running_loop():
            _enqueue(loop, send)
        else:
            loop.call_soon_threadsafe(_enqueue, loop, send)
        return
    future = asyncio.run_coroutine_threadsafe(_call(send), _broadcast_loop())
    try:
        future.result(timeout=SEND_TIMEOUT)
    except Exception:
        logger.exception("Could not broadcast: the channel layer send failed")


async def _call(send: Callable[[], Awaitable[Any]]) -> Any:
    return await send()




def is_local_layer(layer: Any) -> bool:
    """True for a layer that cannot reach other processes (Channels' in-memory layer)."""
    return type(layer).__name__ == "InMemoryChannelLayer"


_origin: str | None = None


def process_origin() -> str:
    """This process's name in the channel-layer messages it sends and in its presence leases."""
    global _origin
    if _origin is None:
        _origin = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    return _origin


def _forked() -> None:
    global _origin, _own_loop, _server_loop
    _origin = None  # a child is another process: a name of its own
    _own_loop = _server_loop = None  # and its parent's loops do not run in it


os.register_at_fork(after_in_child=_forked)
