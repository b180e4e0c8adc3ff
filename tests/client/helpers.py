"""Shared by the tests of motia_django.client: a fake socket and server (the server side of a connection,
driven by the test), a fast-retrying client, frame builders and waits."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from motia_django.client import StreamClient
from motia_django.exceptions import StreamTimeout

# --- a fake socket: the server side of one connection, driven by the test ------------------------------------


class FakeSocket:
    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url, self.options = url, options
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.close_code: int | None = None

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self) -> None:
        self.drop(1000)

    def drop(self, code: int = 1006) -> None:
        self.close_code = self.close_code or code
        self.inbox.put_nowait(None)

    def feed(self, frame: Any) -> None:
        self.inbox.put_nowait(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def __aiter__(self) -> Any:
        while (message := await self.inbox.get()) is not None:
            yield message

    def messages(self, type: str) -> list[dict[str, Any]]:
        return [m["data"] for m in self.sent if m["type"] == type]


class FakeServer:
    """Stands in for ``websockets``' ``connect``: every connection is a new ``FakeSocket``."""

    def __init__(self) -> None:
        self.sockets: list[FakeSocket] = []
        self.failures: list[Exception] = []  # raised by the next connection attempts, in order

    async def connect(self, url: str, **options: Any) -> FakeSocket:
        if self.failures:
            raise self.failures.pop(0)
        socket = FakeSocket(url, options)
        self.sockets.append(socket)
        return socket

    @property
    def socket(self) -> FakeSocket:
        return self.sockets[-1]


def fast(url: str = "ws://fake.test:3000", **options: Any) -> StreamClient:
    return StreamClient(url, min_backoff=0.01, max_backoff=0.02, join_timeout=2, **options)


def frame(type: str, data: Any = None, *, ts: int, stream: str = "chat", group: str = "room", id: str | None = None,
          event: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type, "data": data} if event is None else {"type": "event", "event": event}
    out: dict[str, Any] = {"timestamp": ts, "streamName": stream, "groupId": group, "event": body}
    if id is not None:
        out["id"] = id
    return out


def error(code: str, *, stream: str = "chat", group: str = "room", ts: int = 1) -> dict[str, Any]:
    return frame("event", ts=ts, stream=stream, group=group,
                 event={"type": "error", "data": {"code": code, "message": code.lower()}})


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def _take(sub: Any, n: int) -> Any:
    for _ in range(n):
        try:
            yield await sub.next(0.2)
        except StreamTimeout:
            return


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
