"""The WebSocket consumer that speaks Motia's stream protocol (docs/protocol.md) on one socket.

It dispatches the client's frames and wires the parts that each do one job:

- who connects: ``motia_django.realtime.auth``;
- who may join, ``onJoin``/``onLeave`` and presence: ``motia_django.realtime.joins``;
- the socket's subscriptions and its place in the hub: ``motia_django.realtime.hub.Membership`` (the hub hands
  it every change of its groups, ``deliver``; it queues the frame once if a subscription matches);
- changes arriving while a sync is read: ``motia_django.realtime.protocol.SnapshotHandoff``;
- back-pressure and slow clients: ``motia_django.realtime.send_queue``.

It has no channel-layer channel of its own: the hub talks to the layer once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from motia_django import metrics
from motia_django.conf import motia_settings
from motia_django.encoding import encoded_size
from motia_django.exceptions import FrameError
from motia_django.realtime.auth import Refused, authorize_connection, connection_caps
from motia_django.realtime.hub import Delivery, GroupKey, Membership, hub
from motia_django.realtime.joins import JoinPolicy, Lifecycle
from motia_django.realtime.limits import CLOSE_TOO_MANY_CONNECTIONS, connections
from motia_django.realtime.presence import ensure_upkeep
from motia_django.realtime.protocol import (
    SnapshotHandoff,
    Subscription,
    Sync,
    error_frame,
    frame_names,
    parse_frame,
    parse_subscription,
)
from motia_django.realtime.send_queue import (
    CLOSE_SLOW_CLIENT,
    SLOW_CLOSE_SECONDS,
    SendQueue,
    TransportWatch,
    allow_slow_close,
    unwatch_transport,
    watch_transport,
)
from motia_django.realtime.snapshots import snapshots
from motia_django.stream.api import Stream
from motia_django.stream.registry import registry

__all__ = ["CLOSE_SLOW_CLIENT", "StreamConsumer"]

logger = logging.getLogger("motia_django.consumer")

#: Scope keys read by the time a socket is accepted: its scope is then copied without them, into a dict sized
#: for what is left (removing keys does not shrink a dict), so an idle socket keeps neither them nor the room.
_READ_AT_CONNECT = frozenset({"asgi", "cookies", "extensions", "headers", "http_version", "query_string", "raw_path",
                              "root_path", "session", "subprotocols"})


class StreamConsumer(AsyncWebsocketConsumer):
    """Motia's stream protocol over one WebSocket. Route it at ``/`` (see ``motia_django.routing``)."""

    #: No channel-layer channel per socket: the hub delivers (see the module docstring).
    channel_layer_alias = None

    #: No groups of Channels' own (a class attribute: Channels otherwise gives every socket an empty list).
    groups: tuple[str, ...] = ()

    #: Frame type -> handler method name.
    frame_handlers = {"join": "on_join", "leave": "on_leave"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel_layer = None
        self.subscriptions = Membership(self)
        self.auth_context: Any = None
        self.policy = JoinPolicy(None)
        self.lifecycle = Lifecycle(None)
        self.queue: SendQueue | None = None
        self.handoff: SnapshotHandoff | None = None  # while snapshots are read (``_synced``)
        self.closing = False
        self.caps: list[tuple[Any, int | None]] = []  # what this socket counts under (limits.connections)
        self.ignored_logged = False  # a socket's first ignored frame is logged, the rest only counted
        self.counted = False  # in the open-connections gauge
        self._producer: tuple[Any, TransportWatch] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' consumer loop, for a consumer without a channel layer: one message at a time, in order,
        and no extra task per socket."""
        self.scope, self.base_send = scope, send
        del scope  # this frame lives as long as the socket; connect trims the scope (``_READ_AT_CONNECT``)
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``close_old_connections`` before every message (a thread hop each,
        11% of the server's CPU in a reconnect storm): this consumer never uses a connection of its own
        thread; the threads it hands database work to keep theirs in order (``motia_django.bridge``)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' ``websocket_disconnect`` without its ``close_old_connections`` (a thread hop per closed
        socket, which is most of a shutdown's cost with thousands of sockets), for the reason above; this
        consumer joins no layer groups of its own (the relay does, once per process)."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    # --- connection -----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        hub.attach(asyncio.get_running_loop())
        ensure_upkeep()
        who = await authorize_connection(self.scope)
        if isinstance(who, Refused):
            await self.refuse(who.status)
            return
        self.auth_context, subprotocol = who
        caps = connection_caps(self.scope, self.auth_context)
        if not connections.admit(caps):
            await self.refuse_busy(subprotocol)
            return
        self.caps = caps
        self.policy, self.lifecycle = JoinPolicy(self.auth_context), Lifecycle(self.auth_context)
        self.queue = SendQueue(self, motia_settings.SEND_QUEUE_LIMIT, max_bytes=motia_settings.SEND_QUEUE_BYTES)
        self.scope = {key: value for key, value in self.scope.items() if key not in _READ_AT_CONNECT}
        await self.accept(subprotocol)
        metrics.connections.inc()
        self.counted = True
        self._producer = watch_transport(self.base_send, self.queue)

    async def refuse(self, status: int) -> None:
        """Refuse the upgrade with ``status`` where the server supports it; Daphne always answers 403."""
        if "websocket.http.response" in (self.scope.get("extensions") or {}):
            await self.base_send({"type": "websocket.http.response.start", "status": status,
                                  "headers": [(b"content-type", b"text/plain")]})
            await self.base_send({"type": "websocket.http.response.body", "body": b"Unauthorized"
                                  if status == 401 else b"Forbidden"})
        else:
            await self.close()

    async def refuse_busy(self, subprotocol: str | None) -> None:
        """Over a connection cap: HTTP 429 where the server supports it, else accept and close with 4029."""
        logger.info("WebSocket refused: over MAX_CONNECTIONS_PER_USER or MAX_CONNECTIONS_PER_IP")
        if "websocket.http.response" in (self.scope.get("extensions") or {}):
            await self.base_send({"type": "websocket.http.response.start", "status": 429,
                                  "headers": [(b"content-type", b"text/plain"), (b"retry-after", b"5")]})
            await self.base_send({"type": "websocket.http.response.body", "body": b"Too Many Connections"})
        else:
            await self.accept(subprotocol)
            await self.close(code=CLOSE_TOO_MANY_CONNECTIONS)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        connections.release(self.caps)
        self.caps = []
        if self.counted:
            self.counted = False
            metrics.connections.dec()
        if self.queue is not None:
            await self.queue.stop()
        unwatch_transport(self._producer)
        self._producer = None
        await self._leave_all()

    # --- the send queue's outlet (``send_queue.Outlet``) -------------------------------------------------------

    async def write_frame(self, text: str) -> None:
        await self.base_send({"type": "websocket.send", "text": text})

    def queue_full(self) -> None:
        """The client fell too far behind: cut it off (it resyncs on reconnect)."""
        logger.warning("WebSocket client fell %d frames behind (or %d bytes); disconnecting it",
                       motia_settings.SEND_QUEUE_LIMIT, motia_settings.SEND_QUEUE_BYTES)
        self._cut_off(CLOSE_SLOW_CLIENT)

    def frame_failed(self, exc: BaseException) -> None:
        logger.info("A frame could not be sent (%r); closing the socket", exc)
        self._cut_off(1011)

    # --- frames to the client -------------------------------------------------------------------------------

    def push(self, text: str, item: tuple[str, str, str] | None = None, update: bool = False,
             committed: float | None = None, size: int | None = None) -> None:
        """Queue a frame for the socket (on the loop); a client too far behind is cut off and resyncs.
        ``committed``: when the frame's change committed (``time.monotonic()``), for the broadcast delay; ``size``:
        its bytes on the wire, where known."""
        if self.closing or self.queue is None:
            return
        size = encoded_size(text) if size is None else size
        held = None if self.handoff is None else self.handoff.hold((text, item, update, committed, size))
        if held is None:
            self.queue.push(text, item, update=update, committed=committed, size=size)  # queue_full when full
        elif not held:
            self.queue_full()

    def _push_sync(self, sub: Subscription, sync: Sync) -> None:
        """A subscription's sync: it replaces one of the same subscription still waiting to be sent."""
        if self.closing or self.queue is None:
            return
        self.queue.drop_sync(sub.id)
        for text, size in sync.frames:
            if not self.queue.push(text, size=size, sync=sub.id):
                return

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
        if self.queue is not None:
            await self.queue.stop()
        await self._leave_all()
        with contextlib.suppress(Exception):  # the transport may be gone already
            await self.close(code=code)

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
        old = self.subscriptions.get(sub.id)
        stream = await self.policy.admit(sub, len(self.subscriptions), replacing=old is not None)
        sub = dataclasses.replace(sub, stream=stream.name)  # the registry's string, not one per socket
        if old is not None:  # a refused re-join (above) leaves the old one
            await self._unregister(old)
        self.lifecycle.admitted(stream, sub)
        try:
            await self._synced([(stream, sub)], join=True)
        except FrameError:
            await self.lifecycle.left(sub)  # onJoin ran: its onLeave runs too
            raise

    async def on_leave(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("subscriptionId"), str):
            raise FrameError("INVALID_MESSAGE", "leave needs data.subscriptionId", *frame_names(data))
        sub = self.subscriptions.get(data["subscriptionId"])
        if sub is not None:
            await self._unregister(sub)

    # --- syncs ----------------------------------------------------------------------------------------------

    async def _synced(self, subs: list[tuple[Stream, Subscription]], *, join: bool = False) -> None:
        """Queue a ``sync`` for each of ``subs``, registering a join first (docs/protocol.md, "Joining"); a join
        is ``joined`` once its snapshot is read, before its sync goes out."""
        handoff = self.handoff
        if handoff is None:
            handoff = self.handoff = SnapshotHandoff(self.push, motia_settings.SEND_QUEUE_LIMIT,
                                                     motia_settings.SEND_QUEUE_BYTES)
        try:
            await self._read_syncs(handoff, subs, join)
        finally:
            if handoff.idle and self.handoff is handoff:  # an idle socket keeps no handoff
                self.handoff = None

    async def _read_syncs(self, handoff: SnapshotHandoff, subs: list[tuple[Stream, Subscription]],
                          join: bool) -> None:
        async with handoff.reading() as sends:
            for stream, sub in subs:
                if join:
                    await self.subscriptions.add(sub)
                try:
                    sync = await snapshots.read(stream, sub)  # shared with the joins registered meanwhile
                except FrameError:
                    if join:
                        await self.subscriptions.remove(sub)
                    raise
                except Exception:
                    logger.exception("Could not read the snapshot of %s/%s", sub.stream, sub.group_id)
                    if join:
                        await self.subscriptions.remove(sub)
                    raise FrameError("SYNC_FAILED", "Could not read the stream", sub.stream,
                                     sub.group_id) from None
                sends.append(functools.partial(self._push_sync, sub, sync))
                hub.started(sub.group_key, sync.seq)
                if join:
                    await self.lifecycle.joined(stream, sub)

    # --- subscriptions --------------------------------------------------------------------------------------

    async def _unregister(self, sub: Subscription) -> None:
        if await self.subscriptions.remove(sub):
            await self.lifecycle.left(sub)

    async def _leave_all(self) -> None:
        for sub in await self.subscriptions.clear():
            await self.lifecycle.left(sub)

    # --- from the hub ---------------------------------------------------------------------------------------

    def deliver(self, frame: Delivery) -> None:
        """A committed change or a ``send()`` event: to this socket once if any subscription matches."""
        if self.subscriptions.table.matches(frame.stream, frame.group_id, frame.id):
            item = None if frame.id is None else (frame.stream, frame.group_id, frame.id)
            self.push(frame.text, item, frame.type == "update", frame.committed, frame.size)

    def resync(self, keys: Iterable[GroupKey]) -> None:
        """Send fresh ``sync`` frames for the subscriptions on ``keys``."""
        subs = self.subscriptions.table.on(keys)
        if not subs or self.closing:
            return
        streams = [(stream, sub) for sub in subs if (stream := registry.find(sub.stream)) is not None]
        _spawn(self._resync(streams))

    async def _resync(self, subs: list[tuple[Stream, Subscription]]) -> None:
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
