"""Back-pressure: each socket's frames go through one bounded queue, drained in order by one writer task.

A stalled client fills its queue, not the server's memory; past ``SEND_QUEUE_LIMIT`` frames the queue tells its
``Outlet`` (``queue_full``) and the consumer cuts the client off with ``CLOSE_SLOW_CLIENT`` (4013), giving it
``SLOW_CLOSE_SECONDS`` to read up to the close frame; it resyncs on reconnect. uvicorn's ``send`` waits while the
socket's buffer is full. Daphne's never does (frames pile up in Twisted's write buffer), so for Daphne a push
producer registered with the socket (``watch_transport``) pauses the writer while Twisted's buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, Protocol

from motia_django.compat import daphne_protocol, twisted_consumer
from motia_django.encoding import encoded_size
from motia_django.metrics import frame_written

__all__ = [
    "CLOSE_SLOW_CLIENT", "SLOW_CLOSE_SECONDS", "Outlet", "SendQueue", "TransportWatch", "allow_slow_close",
    "unwatch_transport", "watch_transport",
]

logger = logging.getLogger("motia_django.consumer")


Key = tuple[str, str, str]

#: Close code for a client that fell more than ``SEND_QUEUE_LIMIT`` frames behind (like 1013 "try again").
CLOSE_SLOW_CLIENT = 4013

#: Seconds such a client has to read through what the server already sent, up to the close frame.
SLOW_CLOSE_SECONDS = 30.0


class _Entry:
    """A queued frame; ``key`` is set while it is an item's last queued ``update`` (which a newer one replaces);
    ``sync`` names the subscription whose sync it is part of (a re-join replaces it); ``committed`` is when its
    change committed (for the broadcast delay)."""

    __slots__ = ("committed", "key", "size", "sync", "text")

    def __init__(self, text: str, size: int, key: Key | None, sync: str | None, committed: float | None) -> None:
        self.text, self.size, self.key, self.sync, self.committed = text, size, key, sync, committed


class Outlet(Protocol):
    """Where a send queue's frames go, and what it tells when they cannot: the socket's consumer. One object,
    not three bound methods held per socket."""

    async def write_frame(self, text: str) -> None:
        """Send one frame (the server's ``send``)."""

    def frame_failed(self, exc: BaseException) -> None:
        """A send failed: nothing more is sent; the socket should be closed visibly."""

    def queue_full(self) -> None:
        """The client is too slow: ``limit`` frames or ``max_bytes`` bytes already wait."""


#: The shared, always empty queue of idle send queues.
_EMPTY: deque[_Entry] = deque(maxlen=0)


class SendQueue:
    """The frames waiting for one socket, sent in order by a writer task that exists only while some wait.

    ``push`` never blocks: it returns False, and calls the outlet's ``queue_full``, when ``limit`` frames or
    ``max_bytes`` bytes already wait (the client is too slow). An idle socket holds no task and no queue. An
    ``update`` of an item whose previous ``update`` is still queued (nothing else of that item after it) replaces
    it: a subscriber that falls behind on a token stream skips superseded states instead of receiving every one. A
    sync pushed for a subscription whose previous sync still waits replaces it (a client re-joining in a loop holds
    one). ``writable`` (Daphne only, see ``watch_transport``) pauses the writer while the transport's buffer is
    full. The outlet's ``frame_failed`` is called if a send fails, so the socket is closed visibly.
    """

    __slots__ = ("_task", "broken", "bytes", "frames", "latest", "limit", "max_bytes", "outlet", "syncs", "writable")

    def __init__(self, outlet: Outlet, limit: int, max_bytes: int | None = None) -> None:
        self.frames: deque[_Entry] = _EMPTY
        self.latest: dict[Key, _Entry] | None = None  # each item's queued update that may still be replaced
        self.syncs: dict[str, list[_Entry]] | None = None  # each subscription's queued sync frames
        self.limit = max(1, limit)
        self.max_bytes = max_bytes
        self.bytes = 0  # of the frames waiting
        self.writable: asyncio.Event | None = None
        self.outlet = outlet
        self._task: asyncio.Task[None] | None = None
        self.broken = False  # a send failed: the socket is being closed, nothing more is sent

    def push(self, text: str, item: Key | None = None, *, update: bool = False, committed: float | None = None,
             size: int | None = None, sync: str | None = None) -> bool:
        """Queue a frame (on the socket's loop); ``item`` and ``update`` say whether a newer frame may replace
        it, ``sync`` that it belongs to that subscription's sync (see ``drop_sync``); ``committed`` is the
        ``time.monotonic()`` of its change's commit; ``size`` its bytes on the wire, if known. False when the queue
        is full."""
        if self.broken:
            return True
        size = encoded_size(text) if size is None else size
        if item is not None and self.latest:
            queued = self.latest.pop(item, None)
            if queued is not None and update:  # the newer state supersedes the queued one
                grown = self.bytes + size - queued.size
                if self.max_bytes is not None and size > queued.size and grown > self.max_bytes:  # past the bound
                    self.latest[item] = queued
                    self.outlet.queue_full()
                    return False
                self.bytes += size - queued.size
                queued.text, queued.size, queued.committed = text, size, committed
                self.latest[item] = queued
                return True
        frames = self.frames
        if frames is _EMPTY:
            if self._task is None and (self.writable is None or self.writable.is_set()):
                self._send_now(text, committed)
                return True
            frames = self.frames = deque()
        elif len(frames) >= self.limit or (self.max_bytes is not None and self.bytes + size > self.max_bytes):
            self.outlet.queue_full()
            return False
        entry = _Entry(text, size, item if update else None, sync, committed)
        frames.append(entry)
        self.bytes += size
        if entry.key is not None:
            if self.latest is None:
                self.latest = {}
            self.latest[entry.key] = entry
        if sync is not None:
            if self.syncs is None:
                self.syncs = {}
            self.syncs.setdefault(sync, []).append(entry)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return True

    def drop_sync(self, subscription_id: str) -> None:
        """Forget the frames of ``subscription_id``'s sync that still wait (a newer sync of it follows)."""
        stale = self.syncs.pop(subscription_id, None) if self.syncs else None
        if not stale:
            return
        ids = {id(entry) for entry in stale}
        self.frames = deque(entry for entry in self.frames if id(entry) not in ids) or _EMPTY
        self.bytes -= sum(entry.size for entry in stale)
        if self.latest:  # a dropped frame can no longer be replaced
            for entry in stale:
                if entry.key is not None and self.latest.get(entry.key) is entry:
                    del self.latest[entry.key]

    def __len__(self) -> int:
        return len(self.frames)

    def _send_now(self, text: str, committed: float | None) -> None:
        """Nothing waits: send at once, without a task. The server's ``send`` usually completes without
        suspending (it writes to the transport); if it does suspend, a writer task takes it over (Python 3.12's
        eager tasks, by hand): a fan-out to a thousand idle sockets schedules no task at all."""
        send = self.outlet.write_frame(text)
        try:
            waiting = send.send(None)
        except StopIteration:
            frame_written(committed)
            return
        except Exception as exc:
            self._failed(exc)
            return
        frame_written(committed)  # handed over: the writer task only waits for the server to take it
        self._task = asyncio.get_running_loop().create_task(self._drain((send, waiting)))

    def _failed(self, exc: BaseException) -> None:
        logger.debug("Sending to a WebSocket failed; stopping its writer", exc_info=exc)
        self.broken = True
        self._clear()
        self.outlet.frame_failed(exc)

    async def _drain(self, started: tuple[Any, Any] | None = None) -> None:
        try:
            if started is not None:
                await _finish(*started)
            while self.frames:
                entry = self.frames.popleft()
                self.bytes -= entry.size
                if entry.key is not None and self.latest is not None and self.latest.get(entry.key) is entry:
                    del self.latest[entry.key]
                if entry.sync is not None and self.syncs:
                    self._sent_sync(entry)
                writable = self.writable
                if writable is not None and not writable.is_set():
                    await writable.wait()
                await self.outlet.write_frame(entry.text)
                frame_written(entry.committed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
        finally:
            self._task = None
            if not self.frames:
                self._clear()  # an idle socket keeps no queue

    def _sent_sync(self, entry: _Entry) -> None:
        """A sync frame leaves the queue: it can no longer be replaced."""
        assert self.syncs is not None and entry.sync is not None
        queued = self.syncs.get(entry.sync)
        if queued is not None and entry in queued:
            queued.remove(entry)
            if not queued:
                del self.syncs[entry.sync]

    def _clear(self) -> None:
        self.frames, self.latest, self.syncs, self.bytes = _EMPTY, None, None, 0

    async def stop(self) -> None:
        """Drop what waits and stop the writer."""
        self._clear()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _finish(send: Any, waiting: Any) -> None:
    """Drive a coroutine that suspended on ``waiting`` (a future, or None for a bare yield) to its end."""
    while True:
        try:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                await asyncio.wait((waiting,))  # done; its result or error is the coroutine's to read
        except asyncio.CancelledError:
            send.close()
            raise
        try:
            waiting = send.send(None)
        except StopIteration:
            return


class TransportWatch:
    """A Twisted push producer: Twisted calls pause/resume as the socket's write buffer fills and drains."""

    def __init__(self, writable: asyncio.Event) -> None:
        self.writable = writable

    def pauseProducing(self) -> None:  # Twisted IPushProducer
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        self.writable.set()


def watch_transport(send: Any, queue: SendQueue) -> tuple[Any, TransportWatch] | None:
    """On Daphne, register a push producer that pauses ``queue`` while the socket's buffer is full; returns
    ``(twisted_consumer, watch)`` to unregister on disconnect, or None (another server, or not possible)."""
    consumer = twisted_consumer(daphne_protocol(send))
    if consumer is None:
        return None
    queue.writable = asyncio.Event()
    queue.writable.set()
    watch = TransportWatch(queue.writable)
    try:
        consumer.registerProducer(watch, True)
    except Exception:  # another producer is registered: sends then never pause
        logger.debug("Could not watch the transport's write buffer", exc_info=True)
        return None
    return consumer, watch


def allow_slow_close(send: Any, seconds: float) -> None:
    """On Daphne, give a client cut off for falling behind ``seconds`` to read through its backlog to the close
    frame (Autobahn otherwise drops the connection one second after sending it: a reset, no close code)."""
    protocol = daphne_protocol(send)
    if protocol is not None:
        protocol.closeHandshakeTimeout = seconds


def unwatch_transport(registration: tuple[Any, TransportWatch] | None) -> None:
    if registration is not None:
        with contextlib.suppress(Exception):
            registration[0].unregisterProducer()
