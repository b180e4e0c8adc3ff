"""The WebSocket consumer that speaks Motia's stream protocol (docs/protocol.md) on one socket.

Per socket it keeps a table of subscriptions by ``subscriptionId`` and joins one channel-layer group per
(stream, group id), however many subscriptions share it. A change message (``motia.change``, from
``motia_django.broadcast``) is sent to the socket once if a group subscription on (stream, group) or an item
subscription on (stream, group, id) matches. Frames are parsed and built by ``motia_django.protocol``; every
outgoing frame goes through the socket's bounded ``Outbox`` (``motia_django.outbox``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied

from motia_django.auth import authenticate, can_join, offered_token, session_user
from motia_django.broadcast import attach_loop, group_name
from motia_django.conf import motia_settings
from motia_django.exceptions import AuthenticationRefused, FrameError, StreamNotFound
from motia_django.outbox import Outbox, TransportWatch, unwatch_transport, watch_transport
from motia_django.protocol import Subscription, error_frame, frame_names, parse_subscription, snapshot
from motia_django.registry import registry

__all__ = ["CLOSE_SLOW_CLIENT", "StreamConsumer"]

logger = logging.getLogger("motia_django.consumer")

#: Close code for a client that fell more than ``SEND_QUEUE_LIMIT`` frames behind (like 1013 "try again").
CLOSE_SLOW_CLIENT = 4013


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
        self._producer: tuple[Any, TransportWatch] | None = None

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
        except AuthenticationRefused as exc:
            logger.info("WebSocket connection refused by the authenticate hook: %r", exc)
            await self.refuse(401)
            return
        except Exception:
            logger.warning("The authenticate hook raised; WebSocket connection refused", exc_info=True)
            await self.refuse(401)
            return
        self.outbox = Outbox(self._write, motia_settings.SEND_QUEUE_LIMIT)
        await self.accept(subprotocol)
        self._producer = watch_transport(self.base_send, self.outbox)
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

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.outbox is not None:
            await self.outbox.stop()
        unwatch_transport(self._producer)
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
                                 *frame_names(data))
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
            raise FrameError("INVALID_MESSAGE", "leave needs data.subscriptionId", *frame_names(data))
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
