"""The values a stream client hands out (notifications and ephemeral events), the server frames they come from,
and URL checks."""

from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from motia_django.encoding import decode
from motia_django.exceptions import InvalidStreamURL

__all__ = [
    "DEFAULT", "TOKEN_CHARS", "EphemeralEvent", "Item", "Notification", "NotificationType", "ServerFrame", "check_url",
    "parse", "reason",
]

logger = logging.getLogger("motia_django.client")

NotificationType = Literal["sync", "create", "update", "delete", "event"]
Item = dict[str, Any]
S = TypeVar("S")
T = TypeVar("T")

class _Default:
    def __repr__(self) -> str:
        return "the client's join_timeout"


#: ``ready(timeout=DEFAULT)``: the client's ``join_timeout``.
DEFAULT: Any = _Default()

#: Characters a subprotocol (an HTTP token) may hold; a token with others must go in ``?authToken=``.
TOKEN_CHARS = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")




@dataclass(frozen=True, slots=True)
class EphemeralEvent:
    """An ephemeral event from the server's ``send()`` (``{"type": "typing", "data": {...}}``)."""

    type: str
    data: Any


@dataclass(frozen=True, slots=True)
class Notification:
    """What one server frame changed for a subscription, and its state afterwards.

    ``item`` is the item for ``create``/``update``/``delete`` (for ``delete``, as it was) and for an item's
    ``sync`` (None when the item does not exist); ``event`` is set for ``event``; ``state`` is the
    subscription's state after the change (a group ``sync`` has its items there). ``resync`` marks a ``sync``
    that is not the subscription's first, as after a reconnect: the state was replaced wholesale.
    """

    type: NotificationType
    stream: str
    group_id: str
    id: str | None
    timestamp: int
    state: Any
    item: Item | None = None
    event: EphemeralEvent | None = None
    resync: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``manage.py streams tail`` prints it (``data`` is the state for a ``sync``)."""
        out: dict[str, Any] = {"type": self.type, "stream": self.stream, "groupId": self.group_id}
        if self.id is not None:
            out["id"] = self.id
        out["timestamp"] = self.timestamp
        if self.type == "event":
            assert self.event is not None
            out["event"] = {"type": self.event.type, "data": self.event.data}
        elif self.type == "sync":
            out["data"] = self.state
            if self.resync:
                out["resync"] = True
        else:
            out["data"] = self.item
        return out


@dataclass(frozen=True, slots=True)
class ServerFrame:
    """A frame from the server, read (``parse``)."""

    stream: str
    group_id: str
    id: str | None
    timestamp: int
    type: str
    data: Any
    event: EphemeralEvent | None


def parse(text: str | bytes) -> ServerFrame | None:
    """A server frame, or None for anything that is not one (ignored, as the JS client would choke on it)."""
    if isinstance(text, bytes):
        return None
    try:
        frame = decode(text)
    except ValueError:
        return None
    if not isinstance(frame, dict):
        return None
    stream, group_id, id = frame.get("streamName"), frame.get("groupId"), frame.get("id")
    timestamp, event = frame.get("timestamp"), frame.get("event")
    if not (isinstance(stream, str) and isinstance(group_id, str) and (id is None or isinstance(id, str))):
        return None
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    body = None
    if event["type"] == "event":
        inner = event.get("event")
        if not isinstance(inner, dict) or not isinstance(inner.get("type"), str):
            return None
        body = EphemeralEvent(inner["type"], inner.get("data"))
    return ServerFrame(stream, group_id, id, int(timestamp), event["type"], event.get("data"), body)


def reason(exc: OSError) -> str:
    """"Connection refused" rather than asyncio's "Connect call failed ('127.0.0.1', 3000)"."""
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    return f"{os.strerror(exc.errno) if exc.errno else exc}; is the server running?"


def check_url(url: str) -> str:
    """A ws:// or wss:// URL with a host, or ``InvalidStreamURL`` saying what to write instead."""
    if not isinstance(url, str):
        raise InvalidStreamURL(f"the URL must be a string like ws://127.0.0.1:3000, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidStreamURL(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme in ("http", "https"):
        fixed = ("ws" if parts.scheme == "http" else "wss") + url[len(parts.scheme):]
        raise InvalidStreamURL(f"{url!r} is an HTTP URL; the stream WebSocket of that server is {fixed}")
    if parts.scheme not in ("ws", "wss"):
        raise InvalidStreamURL(f"{url!r} is not a WebSocket URL: use ws://host:port (or wss:// behind TLS)")
    if not parts.hostname:
        raise InvalidStreamURL(f"{url!r} has no host: use ws://host:port")
    return url

