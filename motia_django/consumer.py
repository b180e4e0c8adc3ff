"""The WebSocket consumer that speaks Motia's stream protocol (/work/shared/protocol.md).

Per socket it keeps a table of subscriptions by ``subscriptionId`` and joins one channel-layer group per
(stream, group id), however many subscriptions share it. A change message (``motia.change``, from
``motia_django.broadcast``) is sent to the socket once if a group subscription on (stream, group) or an item
subscription on (stream, group, id) matches (rules 1 and 7). Every outgoing frame goes through one bounded
queue drained by a writer task, so frames keep their order and a stalled client costs at most
``SEND_QUEUE_LIMIT`` frames before it is disconnected (close code 4013) and resyncs on reconnect.

Client mistakes (non-JSON, unknown type, missing fields, unknown stream, oversized frame) are answered with an
error event when the frame names a stream and group, and otherwise ignored; they never close the socket
(rule 8).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied

from motia_django.auth import AuthenticationFailed, authenticate, can_join, offered_token, session_user
from motia_django.broadcast import attach_loop, group_name
from motia_django.changes import Change
from motia_django.conf import motia_settings
from motia_django.exceptions import StreamNotFound, StreamValidationError
from motia_django.registry import registry
from motia_django.storage import now_ms
from motia_django.stream import Stream, validate_key

__all__ = ["CLOSE_SLOW_CLIENT", "FrameError", "Outbox", "StreamConsumer", "Subscription"]

logger = logging.getLogger("motia_django.consumer")

#: Close code for a client that fell more than ``SEND_QUEUE_LIMIT`` frames behind (like 1013 "try again").
CLOSE_SLOW_CLIENT = 4013

#: An item sync for a missing item is stamped this much before now, so that a create stamped just before the
#: snapshot but committed just after it is not dropped by the client (which drops timestamps <= the sync's).
#: Still greater than anything the client saw before a reconnect, which waits 2 s.
ABSENT_ITEM_MARGIN_MS = 1000


def error_frame(stream: str, group_id: str, code: str, message: str) -> str:
    """The protocol's error event (as ``STREAM_ACCESS_DENIED``), without ``id`` so it never moves an item
    subscriber's last timestamp."""
    event = {"type": "event", "event": {"type": "error", "data": {"code": code, "message": message}}}
    return Change(stream, group_id, None, event, now_ms()).text


class FrameError(Exception):
    """A client's mistake in a frame; answered with an error event when ``stream`` and ``group_id`` are known."""

    def __init__(self, code: str, message: str, stream: str | None = None, group_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.stream, self.group_id = code, message, stream, group_id


@dataclass(frozen=True, slots=True)
class Subscription:
    """One ``join``: a group subscription when ``item_id`` is None, else an item subscription."""

    id: str
    stream: str
    group_id: str
    item_id: str | None = None

    @property
    def group_key(self) -> tuple[str, str]:
        return (self.stream, self.group_id)

    def as_dict(self) -> dict[str, Any]:
        """What ``canAccess(subscription, auth_context)`` receives (Motia's shape plus the stream name)."""
        data = {"streamName": self.stream, "groupId": self.group_id, "subscriptionId": self.id}
        if self.item_id is not None:
            data["id"] = self.item_id
        return data


def _key(data: dict[str, Any], name: str, what: str, stream: str | None, group: str | None) -> str:
    try:
        return validate_key(what, data.get(name))
    except StreamValidationError as exc:
        raise FrameError("INVALID_MESSAGE", str(exc), stream, group) from None


def parse_subscription(data: Any) -> Subscription:
    """The subscription a ``join``/``leave`` frame's ``data`` describes; raises ``FrameError``."""
    if not isinstance(data, dict):
        raise FrameError("INVALID_MESSAGE", "data must be an object")
    stream = data.get("streamName") if isinstance(data.get("streamName"), str) else None
    group = data.get("groupId") if isinstance(data.get("groupId"), str) else None
    stream = _key(data, "streamName", "streamName", stream, group)
    group = _key(data, "groupId", "groupId", stream, group)
    item_id = None if data.get("id") is None else _key(data, "id", "id", stream, group)
    sub_id = _key(data, "subscriptionId", "subscriptionId", stream, group)
    return Subscription(sub_id, stream, group, item_id)


def snapshot(stream: Stream, sub: Subscription) -> str:
    """The ``sync`` frame for ``sub`` (read after the subscription is registered: rule 6).

    An item sync carries the item's timestamp. A group sync carries the newest item's timestamp or now,
    whichever is greater: the client drops a group sync older than the last update/delete it saw, so after a
    reconnect a group whose newest item was deleted must still resync.
    """
    if sub.item_id is None:
        rows = stream.backend.get_group(stream.name, sub.group_id)
        timestamp = max([now_ms(), *(stored.timestamp for _, stored in rows)])
        items: Any = [stream.item(id, stored.data) for id, stored in rows]
        return Change(stream.name, sub.group_id, None, {"type": "sync", "data": items}, timestamp).text
    stored = stream.backend.get(stream.name, sub.group_id, sub.item_id)
    if stored is None:
        timestamp, item = now_ms() - ABSENT_ITEM_MARGIN_MS, None
    else:
        timestamp, item = stored.timestamp or now_ms(), stream.item(sub.item_id, stored.data)
    return Change(stream.name, sub.group_id, sub.item_id, {"type": "sync", "data": item}, timestamp).text


class Outbox:
    """A bounded queue of outgoing frames drained, in order, by one writer task.

    ``writable`` is cleared while the transport asks us to pause (Daphne's Twisted transport, see
    ``_watch_transport``), so a stalled client fills this queue instead of the server's memory.
    """

    def __init__(self, send: Callable[[str], Awaitable[None]], limit: int) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=max(1, limit))
        self.writable = asyncio.Event()
        self.writable.set()
        self._send = send
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def put(self, text: str) -> bool:
        """Queue a frame; False when the queue is full (the client is too slow)."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    async def _run(self) -> None:
        while True:
            text = await self.queue.get()
            await self.writable.wait()
            try:
                await self._send(text)
            except Exception:
                logger.debug("Sending to a WebSocket failed; stopping its writer", exc_info=True)
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        while not self.queue.empty():
            self.queue.get_nowait()


class _TransportWatch:
    """A Twisted push producer: Twisted calls pause/resume as the socket's write buffer fills and drains."""

    def __init__(self, writable: asyncio.Event) -> None:
        self.writable = writable

    def pauseProducing(self) -> None:  # Twisted IPushProducer
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        self.writable.set()


def _daphne_protocol(send: Any) -> Any:
    """Daphne's protocol object behind an ASGI ``send`` (``partial(server.handle_reply, protocol)``), or None.

    Daphne never blocks ``send``: frames pile up in Twisted's write buffer. A push producer registered with
    the socket's consumer (``_twisted_consumer``) is Twisted's public way to hear when that buffer is full.
    Channels' session middleware wraps ``send`` (``InstanceSessionWrapper.real_send``); it is looked through.
    """
    for _ in range(8):
        wrapped = getattr(getattr(send, "__self__", None), "real_send", None)
        if wrapped is None:
            break
        send = wrapped
    if not isinstance(send, functools.partial) or len(send.args) != 1:
        return None
    owner = getattr(send.func, "__self__", None)
    if not type(owner).__module__.startswith("daphne."):
        return None
    protocol = send.args[0]
    return protocol if hasattr(protocol, "registerProducer") else None


def _twisted_consumer(protocol: Any) -> Any:
    """Where to register a push producer for Daphne's socket.

    The TCP transport's producer is Twisted web's ``HTTPChannel`` (the upgraded request's); as an
    ``IConsumer`` it passes the transport's pause/resume on to the producer registered with it.
    """
    transport = getattr(protocol, "transport", None)
    for _ in range(4):
        if transport is None:
            return None
        channel = getattr(transport, "producer", None)
        if channel is not None and hasattr(channel, "registerProducer") and hasattr(channel, "pauseProducing"):
            return channel
        transport = getattr(transport, "transport", None)
    return None


class StreamConsumer(AsyncWebsocketConsumer):
    """Motia's stream protocol over one WebSocket. Route it at ``/`` (see ``motia_django.routing``)."""

    #: Frame type -> handler method name.
    frame_handlers = {"join": "on_join", "leave": "on_leave"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel_layer_alias = motia_settings.CHANNEL_LAYER
        self.subscriptions: dict[str, Subscription] = {}
        self.group_subs: Counter[tuple[str, str]] = Counter()
        self.item_subs: Counter[tuple[str, str, str]] = Counter()
        self.layer_groups: Counter[tuple[str, str]] = Counter()
        self.auth_context: Any = None
        self.outbox: Outbox | None = None
        self.closing = False
        self._producer: tuple[Any, _TransportWatch] | None = None

    # --- connection -----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        attach_loop(asyncio.get_running_loop())
        token, subprotocol = offered_token(self.scope)
        self.scope["user"] = await session_user(self.scope)
        try:
            self.auth_context = await authenticate(self.scope, token)
        except PermissionDenied:
            await self.refuse(403)
            return
        except AuthenticationFailed as exc:
            logger.info("WebSocket connection refused by the authenticate hook: %r", exc)
            await self.refuse(401)
            return
        except Exception:
            logger.warning("The authenticate hook raised; WebSocket connection refused", exc_info=True)
            await self.refuse(401)
            return
        self.outbox = Outbox(self._write, motia_settings.SEND_QUEUE_LIMIT)
        await self.accept(subprotocol)
        self._watch_transport()
        self.outbox.start()

    async def refuse(self, status: int) -> None:
        """Refuse the upgrade with ``status`` where the server supports it; Daphne always answers 403."""
        if "websocket.http.response" in (self.scope.get("extensions") or {}):
            await self.base_send({"type": "websocket.http.response.start", "status": status,
                                  "headers": [(b"content-type", b"text/plain")]})
            await self.base_send({"type": "websocket.http.response.body", "body": b"Unauthorized"
                                  if status == 401 else b"Forbidden"})
        else:
            await self.close()

    def _watch_transport(self) -> None:
        consumer = _twisted_consumer(_daphne_protocol(self.base_send))
        if consumer is None or self.outbox is None:
            return
        watch = _TransportWatch(self.outbox.writable)
        try:
            consumer.registerProducer(watch, True)
        except Exception:  # another producer is registered: sends then never pause
            logger.debug("Could not watch the transport's write buffer", exc_info=True)
            return
        self._producer = (consumer, watch)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.outbox is not None:
            await self.outbox.stop()
        if self._producer is not None:
            consumer, _watch = self._producer
            with contextlib.suppress(Exception):
                consumer.unregisterProducer()
            self._producer = None
        await self._leave_all()

    async def _write(self, text: str) -> None:
        await self.send(text_data=text)

    async def enqueue(self, text: str) -> None:
        """Queue a frame for the socket; a client too far behind is disconnected (it resyncs on reconnect)."""
        if self.closing or self.outbox is None:
            return
        if self.outbox.put(text):
            return
        logger.warning("WebSocket client fell %d frames behind; disconnecting it", self.outbox.queue.maxsize)
        self.closing = True
        await self.outbox.stop()
        await self._leave_all()
        await self.close(code=CLOSE_SLOW_CLIENT)

    # --- frames from the client -----------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or self.closing:
            return  # the protocol is text frames only
        limit = motia_settings.MAX_FRAME_BYTES
        if len(text_data) > limit or len(text_data.encode()) > limit:
            logger.info("Ignored a WebSocket frame larger than MAX_FRAME_BYTES (%d bytes)", limit)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        data = frame.get("data")
        try:
            handler = self.frame_handlers.get(frame.get("type"))  # type: ignore[arg-type]
            if handler is None:
                raise FrameError("INVALID_MESSAGE", f"unknown message type {frame.get('type')!r}",
                                 *_names(data))
            await getattr(self, handler)(data)
        except FrameError as exc:
            if exc.stream and exc.group_id:  # a frame that names no stream and group is ignored
                await self.enqueue(error_frame(exc.stream, exc.group_id, exc.code, exc.message))

    async def on_join(self, data: Any) -> None:
        sub = parse_subscription(data)
        try:
            stream = registry.get(sub.stream)
        except StreamNotFound:
            raise FrameError("STREAM_NOT_FOUND", f"stream {sub.stream!r} not found", sub.stream,
                             sub.group_id) from None
        old = self.subscriptions.get(sub.id)
        if old is not None:
            await self._unregister(old)
        if len(self.subscriptions) >= motia_settings.MAX_SUBSCRIPTIONS:
            raise FrameError("TOO_MANY_SUBSCRIPTIONS",
                             f"at most {motia_settings.MAX_SUBSCRIPTIONS} subscriptions per connection",
                             sub.stream, sub.group_id)
        try:
            allowed = await can_join(stream, sub.as_dict(), self.auth_context)
        except Exception:
            logger.exception("canAccess of stream %r raised; access denied", sub.stream)
            allowed = False
        if not allowed:
            raise FrameError("STREAM_ACCESS_DENIED", "Access denied", sub.stream, sub.group_id)
        await self._register(sub)
        try:
            text = await database_sync_to_async(snapshot)(stream, sub)
        except Exception:
            logger.exception("Could not read the snapshot of %s/%s", sub.stream, sub.group_id)
            await self._unregister(sub)
            raise FrameError("SYNC_FAILED", "Could not read the stream", sub.stream, sub.group_id) from None
        await self.enqueue(text)

    async def on_leave(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("subscriptionId"), str):
            raise FrameError("INVALID_MESSAGE", "leave needs data.subscriptionId", *_names(data))
        sub = self.subscriptions.get(data["subscriptionId"])
        if sub is not None:
            await self._unregister(sub)

    # --- subscriptions --------------------------------------------------------------------------------------

    async def _register(self, sub: Subscription) -> None:
        self.subscriptions[sub.id] = sub
        if sub.item_id is None:
            self.group_subs[sub.group_key] += 1
        else:
            self.item_subs[(*sub.group_key, sub.item_id)] += 1
        if self.layer_groups[sub.group_key] == 0 and self.channel_layer is not None:
            await self.channel_layer.group_add(group_name(*sub.group_key), self.channel_name)
        self.layer_groups[sub.group_key] += 1

    async def _unregister(self, sub: Subscription) -> None:
        if self.subscriptions.get(sub.id) is not sub:
            return
        del self.subscriptions[sub.id]
        counter: Counter[Any] = self.group_subs if sub.item_id is None else self.item_subs
        key: tuple[str, ...] = sub.group_key if sub.item_id is None else (*sub.group_key, sub.item_id)
        counter[key] -= 1
        if counter[key] <= 0:
            del counter[key]
        self.layer_groups[sub.group_key] -= 1
        if self.layer_groups[sub.group_key] <= 0:
            del self.layer_groups[sub.group_key]
            if self.channel_layer is not None:
                await self.channel_layer.group_discard(group_name(*sub.group_key), self.channel_name)

    async def _leave_all(self) -> None:
        groups = list(self.layer_groups)
        self.subscriptions.clear()
        self.group_subs.clear()
        self.item_subs.clear()
        self.layer_groups.clear()
        if self.channel_layer is not None:
            for key in groups:
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(group_name(*key), self.channel_name)

    # --- messages from the broadcaster ----------------------------------------------------------------------

    async def motia_change(self, message: dict[str, Any]) -> None:
        """A committed change or a ``send()`` event: to this socket once if any subscription matches."""
        key = (message["stream"], message["group"])
        item_id = message.get("id")
        if key in self.group_subs or (item_id is not None and (*key, item_id) in self.item_subs):
            await self.enqueue(message["text"])


def _names(data: Any) -> tuple[str | None, str | None]:
    if not isinstance(data, dict):
        return None, None
    stream, group = data.get("streamName"), data.get("groupId")
    return (stream if isinstance(stream, str) else None, group if isinstance(group, str) else None)
