"""The second floor: the same contract as ``floor_app`` in plain ASGI, with direct fan-out and no Channels.

``floor_app`` measures what Channels' generic consumer and layer cost; motia_django's hub now bypasses the
layer for local sockets, so this floor keeps the ratios honest: a dict of sockets by group, and a change sent
straight to each socket's ASGI ``send`` (in a loop, in the writer's task). No Django, no database, no
validation. Same endpoints and frames as ``floor_app``:

- WebSocket (any path): ``join`` -> an empty ``sync``; changes of the joined (stream, group) are sent as is.
- ``POST /chat-messages`` ``{"channel_id", "message"}``: the ``create`` frame to the group, then ``201``.
- ``POST /open-ai`` ``{"message", "groupId"?}``: ``200`` with the ``__motia`` reference, then (in a task) a
  ``create`` and 200 ``update`` frames of a growing text, the last one ``"echo: <message>"``.

Run with ``uvicorn bench.floor_direct:application`` or ``daphne bench.floor_direct:application``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]

_groups: dict[tuple[str, str], set[Send]] = {}
_tasks: set[asyncio.Task[None]] = set()


def encode(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def now_ms() -> int:
    return int(time.time() * 1000)


async def fan_out(key: tuple[str, str], text: str) -> None:
    for send in tuple(_groups.get(key, ())):
        with contextlib.suppress(Exception):
            await send({"type": "websocket.send", "text": text})


async def websocket_app(scope: dict[str, Any], receive: Any, send: Send) -> None:
    joined: set[tuple[str, str]] = set()
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif message["type"] == "websocket.disconnect":
                return
            elif message["type"] == "websocket.receive":
                try:
                    frame = json.loads(message.get("text") or "")
                    data = frame["data"]
                    key = (data["streamName"], data["groupId"])
                except (ValueError, KeyError, TypeError):
                    continue
                if frame.get("type") != "join":
                    continue
                joined.add(key)
                _groups.setdefault(key, set()).add(send)
                sync: dict[str, Any] = {"timestamp": now_ms(), "streamName": key[0], "groupId": key[1]}
                if "id" in data:
                    sync["id"] = data["id"]
                sync["event"] = {"type": "sync", "data": None if "id" in data else []}
                await send({"type": "websocket.send", "text": encode(sync)})
    finally:
        for key in joined:
            _groups.get(key, set()).discard(send)


async def _read_body(receive: Any) -> bytes:
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
    words = message.split(" ")
    texts = [""] + ["echo: " + " ".join(words[: i + 1]) for i in range(len(words))]
    for i, text in enumerate(texts):
        frame = {"timestamp": now_ms(), "streamName": "openai", "groupId": group_id, "id": "message",
                 "event": {"type": "create" if i == 0 else "update", "data": {"id": "message", "message": text}}}
        await fan_out(("openai", group_id), encode(frame))


async def http_app(scope: dict[str, Any], receive: Any, send: Send) -> None:
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
        item = {"id": uuid.uuid4().hex, "user_id": "floor", "message": data["message"], "timestamp": str(now_ms())}
        frame = {"timestamp": now_ms(), "streamName": "chatMessage", "groupId": data["channel_id"],
                 "id": item["id"], "event": {"type": "create", "data": item}}
        await fan_out(("chatMessage", data["channel_id"]), encode(frame))
        await _respond(send, 201, item)
        return
    group_id = str(data.get("groupId") or uuid.uuid4().hex)
    task = asyncio.ensure_future(_tokens(group_id, str(data["message"])))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    await _respond(send, 200, {"id": "message", "message": "", "__motia": {
        "type": "state-stream", "streamName": "openai", "groupId": group_id, "id": "message"}})


async def application(scope: dict[str, Any], receive: Any, send: Send) -> None:
    if scope["type"] == "websocket":
        await websocket_app(scope, receive, send)
    elif scope["type"] == "http":
        await http_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
