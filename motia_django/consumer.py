"""The WebSocket consumer that speaks Motia's stream protocol (docs/protocol.md) on one socket.

Per socket it keeps a table of subscriptions by ``subscriptionId`` and is registered with the process's hub
once per (stream, group id), however many subscriptions share it. The hub hands it every change of those
groups (``deliver``); it queues the frame once if a group subscription on (stream, group) or an item
subscription on (stream, group, id) matches. It has no channel-layer channel of its own: the hub talks to the
layer once per process. Frames are parsed and built by ``motia_django.protocol``; every outgoing frame goes
through the socket's bounded ``Outbox`` (``motia_django.outbox``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from motia_django import metrics
from motia_django.auth import Refused, authorize_connection, call_hook, can_join
from motia_django.bridge import to_thread
from motia_django.broadcast import attach_loop
from motia_django.conf import motia_settings
from motia_django.exceptions import FrameError, StreamNotFound
from motia_django.hub import Frame, GroupKey, hub
from motia_django.lifecycle import Lifecycle
from motia_django.outbox import Outbox, TransportWatch, allow_slow_close, unwatch_transport, watch_transport
from motia_django.presence import ensure_upkeep
from motia_django.protocol import (
    Subscription,
    SubscriptionTable,
    error_frame,
    frame_names,
    parse_frame,
    parse_subscription,
    snapshot,
)
from motia_django.registry import registry

__all__ = ["CLOSE_SLOW_CLIENT", "StreamConsumer"]

logger = logging.getLogger("motia_django.consumer")

#: Close code for a client that fell more than ``SEND_QUEUE_LIMIT`` frames behind (like 1013 "try again").
CLOSE_SLOW_CLIENT = 4013

#: Seconds such a client has to read through what the server already sent, up to the close frame.
SLOW_CLOSE_SECONDS = 30.0


class StreamConsumer(AsyncWebsocketConsumer):
    """Motia's stream protocol over one WebSocket. Route it at ``/`` (see ``motia_django.routing``)."""

    #: No channel-layer channel per socket: the hub delivers (see the module docstring).
    channel_layer_alias = None

    #: Frame type -> handler method name.
    frame_handlers = {"join": "on_join", "leave": "on_leave"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel_layer = None
        self.subscriptions = SubscriptionTable()
        self.auth_context: Any = None
        self.lifecycle = Lifecycle(None)
        self.outbox: Outbox | None = None
        self.closing = False
        self.ignored_logged = False  # a socket's first ignored frame is logged, the rest only counted
        self.held: list[tuple[str, Any, bool, float | None]] | None = None  # frames arriving while snapshots are read
        self.counted = False  # in the open-connections gauge
        self._lock: asyncio.Lock | None = None  # one snapshot read (join or resync) at a time
        self._producer: tuple[Any, TransportWatch] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' consumer loop, for a consumer without a channel layer: one message at a time, in order,
        and no extra task per socket."""
        self.scope, self.base_send = scope, send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    # --- connection -----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        attach_loop(asyncio.get_running_loop())
        ensure_upkeep()
        who = await authorize_connection(self.scope)
        if isinstance(who, Refused):
            await self.refuse(who.status)
            return
        self.auth_context, subprotocol = who
        self.lifecycle = Lifecycle(self.auth_context)
        self.outbox = Outbox(self._write, motia_settings.SEND_QUEUE_LIMIT, on_error=self._send_failed)
        for key in ("headers", "cookies", "session"):  # read by now; an idle socket need not keep them
            self.scope.pop(key, None)
        await self.accept(subprotocol)
        metrics.connections.inc()
        self.counted = True
        self._producer = watch_transport(self.base_send, self.outbox)

    async def refuse(self, status: int) -> None:
        """Refuse the upgrade with ``status`` where the server supports it; Daphne always answers 403."""
        if "websocket.http.response" in (self.scope.get("extensions") or {}):
            await self.base_send({"type": "websocket.http.response.start", "status": status,
                                  "headers": [(b"content-type", b"text/plain")]})
            await self.base_send({"type": "websocket.http.response.body", "body": b"Unauthorized"
                                  if status == 401 else b"Forbidden"})
        else:
            await self.close()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.counted:
            self.counted = False
            metrics.connections.dec()
        if self.outbox is not None:
            await self.outbox.stop()
        unwatch_transport(self._producer)
        self._producer = None
        await self._leave_all()

    async def _write(self, text: str) -> None:
        await self.base_send({"type": "websocket.send", "text": text})

    def push(self, text: str, item: tuple[str, str, str] | None = None, update: bool = False,
             committed: float | None = None) -> None:
        """Queue a frame for the socket (on the loop); a client too far behind is cut off and resyncs.
        ``committed``: when the frame's change committed (``time.monotonic()``), for the broadcast delay."""
        if self.closing or self.outbox is None:
            return
        if self.held is not None:
            if len(self.held) < self.outbox.limit:
                self.held.append((text, item, update, committed))
                return
        elif self.outbox.push(text, item, update=update, committed=committed):
            return
        logger.warning("WebSocket client fell %d frames behind; disconnecting it", self.outbox.limit)
        self._cut_off(CLOSE_SLOW_CLIENT)

    def _cut_off(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        if code == CLOSE_SLOW_CLIENT:
            metrics.slow_client_disconnects.inc()
        _spawn(self._close(code))

    async def _close(self, code: int) -> None:
        if code == CLOSE_SLOW_CLIENT:
            allow_slow_close(self.base_send, SLOW_CLOSE_SECONDS)
        if self.outbox is not None:
            await self.outbox.stop()
        await self._leave_all()
        with contextlib.suppress(Exception):  # the transport may be gone already
            await self.close(code=code)

    def _send_failed(self, exc: BaseException) -> None:
        logger.info("A frame could not be sent (%r); closing the socket", exc)
        self._cut_off(1011)

    # --- frames from the client -----------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        frame = parse_frame(text_data, motia_settings.MAX_FRAME_BYTES)
        if isinstance(frame, str):
            self._ignore(frame)
            return
        data, kind = frame.get("data"), frame.get("type")
        try:
            handler = self.frame_handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise FrameError("INVALID_MESSAGE", f"unknown message type {kind!r}"[:200], *frame_names(data))
            await getattr(self, handler)(data)
        except FrameError as exc:
            if exc.stream and exc.group_id:  # a frame that names no stream and group is ignored
                self.push(error_frame(exc.stream, exc.group_id, exc.code, exc.message))
        except Exception:  # a bug of ours: the frame fails alone, the socket goes on serving
            logger.exception("A client frame could not be handled; the socket stays open")
            stream, group = frame_names(data)
            if stream and group:
                self.push(error_frame(stream, group, "INTERNAL_ERROR", "The message could not be handled"))

    def _ignore(self, reason: str) -> None:
        """Count a frame that gets no answer; log only a socket's first, so that a client cannot flood the log."""
        metrics.frames_ignored.labels(reason).inc()
        if not self.ignored_logged:
            self.ignored_logged = True
            logger.info("Ignored a client frame (%s; MAX_FRAME_BYTES is %d); this socket's further ignored "
                        "frames are only counted (motia_frames_ignored_total)", reason, motia_settings.MAX_FRAME_BYTES)

    async def on_join(self, data: Any) -> None:
        sub = parse_subscription(data)
        try:
            stream = registry.get(sub.stream)
        except StreamNotFound:
            raise FrameError("STREAM_NOT_FOUND", f"stream {sub.stream!r} not found", sub.stream,
                             sub.group_id) from None
        old = self.subscriptions.get(sub.id)
        if old is None and len(self.subscriptions) >= motia_settings.MAX_SUBSCRIPTIONS:
            raise FrameError("TOO_MANY_SUBSCRIPTIONS",
                             f"at most {motia_settings.MAX_SUBSCRIPTIONS} subscriptions per connection",
                             sub.stream, sub.group_id)
        try:
            allowed = await can_join(stream, sub.as_dict(), self.auth_context)
        except Exception:
            logger.exception("canAccess of stream %r raised; access denied", sub.stream)
            allowed = False
        if not allowed or not await self.lifecycle.admit(stream, sub):  # a refused re-join leaves the old one
            raise FrameError("STREAM_ACCESS_DENIED", "Access denied", sub.stream, sub.group_id)
        if old is not None:
            await self._unregister(old)
        try:
            await self._synced([(stream, sub)], register=True, joined=self.lifecycle.joined)
        except FrameError:
            if stream.on_leave is not None:  # onJoin ran: its onLeave runs too
                with contextlib.suppress(Exception):
                    await call_hook(stream.on_leave, sub.as_dict(), self.auth_context)
            raise

    async def _synced(self, subs: list[tuple[Any, Subscription]], *, register: bool = False,
                      joined: Callable[[Any, Subscription], Awaitable[None]] | None = None) -> None:
        """Queue a ``sync`` for each of ``subs``; frames arriving meanwhile wait, then follow the syncs
        (register before reading: docs/protocol.md, "Joining"). ``joined`` runs once a join's snapshot is read,
        before its sync goes out."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self.held, texts = [], []
            try:
                for stream, sub in subs:
                    if register:
                        await self._register(sub)
                    try:
                        text, seq = await to_thread(snapshot)(stream, sub)
                    except Exception:
                        logger.exception("Could not read the snapshot of %s/%s", sub.stream, sub.group_id)
                        if register:
                            await self._unregister(sub)
                        raise FrameError("SYNC_FAILED", "Could not read the stream", sub.stream,
                                         sub.group_id) from None
                    texts.append(text)
                    hub.started(sub.group_key, seq)
                    if joined is not None:
                        await joined(stream, sub)
            finally:
                held, self.held = self.held, None
                for text in texts:
                    self.push(text)
                for text, item, update, committed in held:
                    self.push(text, item, update, committed)

    async def on_leave(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("subscriptionId"), str):
            raise FrameError("INVALID_MESSAGE", "leave needs data.subscriptionId", *frame_names(data))
        sub = self.subscriptions.get(data["subscriptionId"])
        if sub is not None:
            await self._unregister(sub)

    # --- subscriptions --------------------------------------------------------------------------------------

    async def _register(self, sub: Subscription) -> None:
        first = self.subscriptions.add(sub)
        metrics.subscriptions.inc()
        if first:
            await hub.join(sub.group_key, self)

    async def _unregister(self, sub: Subscription) -> None:
        if self.subscriptions.get(sub.id) is not sub:
            return
        last = self.subscriptions.remove(sub)
        metrics.subscriptions.dec()
        if last:
            await hub.leave(sub.group_key, self)
        await self.lifecycle.left(sub)

    async def _leave_all(self) -> None:
        subs = list(self.subscriptions.by_id.values())
        if subs:
            metrics.subscriptions.dec(len(subs))
        for key in self.subscriptions.clear():
            await hub.leave(key, self)
        for sub in subs:
            await self.lifecycle.left(sub)

    # --- from the hub ---------------------------------------------------------------------------------------

    def deliver(self, frame: Frame) -> None:
        """A committed change or a ``send()`` event: to this socket once if any subscription matches."""
        if self.subscriptions.matches(frame.stream, frame.group_id, frame.id):
            item = None if frame.id is None else (frame.stream, frame.group_id, frame.id)
            self.push(frame.text, item, frame.type == "update", frame.committed)

    def resync(self, keys: Iterable[GroupKey]) -> None:
        """Send fresh ``sync`` frames for the subscriptions on ``keys``."""
        subs = self.subscriptions.on(keys)
        if not subs or self.closing:
            return
        streams = []
        for sub in subs:
            try:
                streams.append((registry.get(sub.stream), sub))
            except StreamNotFound:
                continue
        _spawn(self._resync(streams))

    async def _resync(self, subs: list[tuple[Any, Subscription]]) -> None:
        try:
            await self._synced(subs)
        except FrameError:  # a snapshot could not be read: the client must not stay behind
            self._cut_off(1011)


#: Tasks of sockets being closed or resynced (kept referenced until they finish).
_closing: set[asyncio.Task[None]] = set()


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _closing.add(task)
    task.add_done_callback(_closing.discard)
