"""The floor: the cheapest ASGI app that speaks the same HTTP contract and stream protocol as the example.

Same server software and channel layer as motia_django, nothing else: no DRF, no database, no validation.

- WebSocket (any path): ``join`` -> ``group_add`` + an empty ``sync``; ``floor.frame`` layer messages are sent
  to the socket as they are (already encoded).
- ``POST /chat-messages`` ``{"channel_id", "message"}``: one ``group_send`` of the encoded ``create`` frame to
  the group ``chatMessage``/``channel_id``, then ``201`` with the item.
- ``POST /open-ai`` ``{"message", "groupId"?}``: ``200`` with the ``__motia`` reference, then (in a task, as a
  worker would) 201 sequential ``group_send`` calls to ``openai``/``groupId``/``message``: a ``create`` and 200
  ``update`` frames, one more word each, the last one ``"echo: <message>"``.

The in-memory layer gets a large ``capacity`` (see ``FLOOR_CAPACITY``); otherwise it is Channels' own.

Run with ``daphne bench.floor_app:application``; ``REDIS_URL`` switches to channels-redis as the example does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from typing import Any

import django
from django.conf import settings

#: Per-channel queue size of the in-memory layer. Channels' default (100) silently drops group messages under
#: bursts (``group_send`` swallows ``ChannelFull``); the floor must deliver everything, so it is raised here.
FLOOR_CAPACITY = 100_000

if not settings.configured:
    redis_url = os.environ.get("REDIS_URL")
    settings.configure(
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": (
            {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [redis_url]}}
            if redis_url
            else {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": FLOOR_CAPACITY}}
        )},
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402

Scope = dict[str, Any]
Receive = Any
Send = Any

_tasks: set[asyncio.Task[None]] = set()


def group_name(stream: str, group_id: str) -> str:
    """A valid channel-layer group name for (stream, group id)."""
    return "floor." + hashlib.sha1(f"{stream}\0{group_id}".encode(), usedforsecurity=False).hexdigest()


def encode(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def now_ms() -> int:
    return int(time.time() * 1000)


class FloorConsumer(AsyncWebsocketConsumer):
    """Join -> group_add + empty sync; layer frames passed through untouched; groups left on disconnect."""

    joined: set[str]

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = json.loads(text_data or "")
            data = frame["data"]
            stream, group = data["streamName"], data["groupId"]
        except (ValueError, KeyError, TypeError):
            return
        if frame.get("type") != "join":
            return
        name = group_name(stream, group)
        if not hasattr(self, "joined"):
            self.joined = set()
        if name not in self.joined:
            self.joined.add(name)
            await self.channel_layer.group_add(name, self.channel_name)
        sync: dict[str, Any] = {"timestamp": now_ms(), "streamName": stream, "groupId": group}
        if "id" in data:
            sync["id"] = data["id"]
        sync["event"] = {"type": "sync", "data": None if "id" in data else []}
        await self.send(text_data=encode(sync))

    async def floor_frame(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["text"])


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _respond(send: Send, status: int, payload: Any) -> None:
    body = encode(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _tokens(group_id: str, message: str) -> None:
    """201 sequential broadcasts: a create, then one update per word; the last text is ``echo: <message>``."""
    layer = get_channel_layer()
    group = group_name("openai", group_id)
    words = message.split(" ")
    texts = [""] + ["echo: " + " ".join(words[: i + 1]) for i in range(len(words))]
    for i, text in enumerate(texts):
        frame = {"timestamp": now_ms(), "streamName": "openai", "groupId": group_id, "id": "message",
                 "event": {"type": "create" if i == 0 else "update", "data": {"id": "message", "message": text}}}
        await layer.group_send(group, {"type": "floor.frame", "text": encode(frame)})


async def http_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The two POST endpoints; anything else is 404."""
    if scope["type"] != "http":
        return
    body = await _read_body(receive)
    path = scope["path"].rstrip("/")
    if scope["method"] != "POST" or path not in ("/chat-messages", "/open-ai"):
        await _respond(send, 404, {"error": "not found"})
        return
    try:
        data = json.loads(body)
    except ValueError:
        await _respond(send, 400, {"error": "bad json"})
        return
    if path == "/chat-messages":
        item = {"id": uuid.uuid4().hex, "user_id": "floor", "message": data["message"],
                "timestamp": str(now_ms())}
        frame = {"timestamp": now_ms(), "streamName": "chatMessage", "groupId": data["channel_id"],
                 "id": item["id"], "event": {"type": "create", "data": item}}
        await get_channel_layer().group_send(group_name("chatMessage", data["channel_id"]),
                                             {"type": "floor.frame", "text": encode(frame)})
        await _respond(send, 201, item)
        return
    group_id = str(data.get("groupId") or uuid.uuid4().hex)
    task = asyncio.ensure_future(_tokens(group_id, str(data["message"])))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    await _respond(send, 200, {"id": "message", "message": "", "__motia": {
        "type": "state-stream", "streamName": "openai", "groupId": group_id, "id": "message"}})


application = ProtocolTypeRouter({"http": http_app, "websocket": FloorConsumer.as_asgi()})
