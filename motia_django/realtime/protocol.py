"""Motia's stream protocol, as data: the frames a client sends and the frames it receives.

``parse_frame`` reads a client frame (or says why it gets no answer); ``parse_subscription`` turns a
``join``/``leave`` frame into a ``Subscription`` or raises ``FrameError``; ``snapshot`` builds the ``sync`` reply
to a join, and ``SnapshotHandoff`` makes the changes that arrive while it is read wait and follow it;
``error_frame`` is the error event a bad frame gets; ``SubscriptionTable`` says which of a socket's
subscriptions a change concerns. The rules these follow are in docs/protocol.md; the consumer
(``motia_django.realtime.consumer``) applies them per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from motia_django.encoding import decode, encode_frame, encoded_size
from motia_django.exceptions import FrameError, StreamValidationError
from motia_django.stream.api import Stream
from motia_django.stream.changes import Change
from motia_django.stream.items import now_ms, validate_key

__all__ = [
    "ABSENT_ITEM_MARGIN_MS", "MAX_OUTGOING_FRAME", "SnapshotHandoff", "Subscription", "SubscriptionTable", "Sync",
    "error_frame", "frame_names", "parse_frame", "parse_subscription", "snapshot",
]

#: An item sync for a missing item is stamped this much before now, so that a create stamped just before the
#: snapshot but committed just after it is not dropped by the client (which drops timestamps <= the sync's).
#: Still greater than anything the client saw before a reconnect, which waits 2 s.
ABSENT_ITEM_MARGIN_MS = 1000


def parse_frame(text: str | None, limit: int) -> dict[str, Any] | str:
    """A client frame as a JSON object, or why it gets no answer: ``binary`` (the protocol is text frames
    only), ``too_large`` (over ``limit`` bytes of UTF-8), ``not_json`` or ``not_an_object``."""
    if text is None:
        return "binary"
    if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
        return "too_large"
    try:
        frame = decode(text)
    except ValueError:
        return "not_json"
    return frame if isinstance(frame, dict) else "not_an_object"


def error_frame(stream: str, group_id: str, code: str, message: str) -> str:
    """The protocol's error event (as ``STREAM_ACCESS_DENIED``), without ``id`` so it never moves an item
    subscriber's last timestamp."""
    event = {"type": "event", "event": {"type": "error", "data": {"code": code, "message": message}}}
    return Change(stream, group_id, None, event, now_ms()).text


@dataclass(frozen=True, slots=True)
class Subscription:
    """One ``join``: a group subscription when ``item_id`` is None, else an item subscription."""

    id: str
    stream: str
    group_id: str
    item_id: str | None = None
    #: ``(stream, group_id)``: one tuple, the key of every table the subscription is counted in (the socket's,
    #: its presence, the hub's), not one per table.
    group_key: tuple[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "group_key", (self.stream, self.group_id))

    def as_dict(self) -> dict[str, Any]:
        """What ``canAccess(subscription, auth_context)`` receives (Motia's shape plus the stream name)."""
        data = {"streamName": self.stream, "groupId": self.group_id, "subscriptionId": self.id}
        if self.item_id is not None:
            data["id"] = self.item_id
        return data


class SubscriptionTable:
    """One socket's subscriptions by id, with the counts that make matching a change two set lookups. The item
    subscriptions' counts exist once there is one: most sockets hold group subscriptions only."""

    __slots__ = ("by_id", "groups", "item_groups", "items")

    def __init__(self) -> None:
        self.by_id: dict[str, Subscription] = {}
        self.groups: Counter[tuple[str, str]] = Counter()  # group subscriptions per (stream, group)
        self.items: Counter[tuple[str, str, str]] | None = None  # item subscriptions per (stream, group, id)
        self.item_groups: Counter[tuple[str, str]] | None = None  # item subscriptions per (stream, group)

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, sub_id: str) -> Subscription | None:
        return self.by_id.get(sub_id)

    def _held(self, key: tuple[str, str]) -> int:
        """The socket's subscriptions on (stream, group) ``key``."""
        return self.groups.get(key, 0) + (self.item_groups.get(key, 0) if self.item_groups is not None else 0)

    def add(self, sub: Subscription) -> bool:
        """Add ``sub``; True when it is the socket's first subscription on its (stream, group)."""
        self.by_id[sub.id] = sub
        key = sub.group_key
        if sub.item_id is None:
            self.groups[key] += 1
        else:
            if self.items is None or self.item_groups is None:
                self.items, self.item_groups = Counter(), Counter()
            self.items[(*key, sub.item_id)] += 1
            self.item_groups[key] += 1
        return self._held(key) == 1

    def remove(self, sub: Subscription) -> bool:
        """Remove ``sub`` (if it is the one held); True when it was the last on its (stream, group)."""
        if self.by_id.get(sub.id) is not sub:
            return False
        del self.by_id[sub.id]
        key = sub.group_key
        if sub.item_id is None:
            _decrement(self.groups, key)
        else:
            assert self.items is not None and self.item_groups is not None  # it was added
            _decrement(self.items, (*key, sub.item_id))
            _decrement(self.item_groups, key)
        return not self._held(key)

    def matches(self, stream: str, group_id: str, item_id: str | None) -> bool:
        """Does a change of (stream, group, item) concern this socket? (Once, however many subscriptions.)"""
        key = (stream, group_id)
        return key in self.groups or (item_id is not None and self.items is not None
                                      and (stream, group_id, item_id) in self.items)

    def on(self, keys: Any) -> list[Subscription]:
        """The subscriptions on any of the (stream, group) ``keys``."""
        wanted = set(keys)
        return [sub for sub in self.by_id.values() if sub.group_key in wanted]

    def clear(self) -> list[tuple[str, str]]:
        """Forget everything; returns the (stream, group) keys that were held."""
        keys = list({**self.groups, **(self.item_groups or {})})
        self.by_id.clear()
        self.groups.clear()
        self.items = self.item_groups = None
        return keys


def _decrement(counter: Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def _key(data: dict[str, Any], name: str, what: str, stream: str | None, group: str | None) -> str:
    try:
        return validate_key(what, data.get(name))
    except StreamValidationError as exc:
        raise FrameError("INVALID_MESSAGE", str(exc), stream, group) from None


def parse_subscription(data: Any) -> Subscription:
    """The subscription a ``join``/``leave`` frame's ``data`` describes; raises ``FrameError``."""
    if not isinstance(data, dict):
        raise FrameError("INVALID_MESSAGE", "data must be an object")
    stream, group = frame_names(data)
    stream = _key(data, "streamName", "streamName", stream, group)
    group = _key(data, "groupId", "groupId", stream, group)
    item_id = None if data.get("id") is None else _key(data, "id", "id", stream, group)
    sub_id = _key(data, "subscriptionId", "subscriptionId", stream, group)
    return Subscription(sub_id, stream, group, item_id)


#: The largest frame motia_django sends: Daphne's default message limit (it drops bigger messages without closing
#: the socket). Syncs are paged well below it; a single item over it cannot be synced, and its join is refused.
MAX_OUTGOING_FRAME = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sync:
    """The reply to a join: its frames (text, bytes on the wire), and the group's sequence number read before
    them (None when the storage keeps none)."""

    frames: list[tuple[str, int]]
    seq: int | None


def _frame(stream: str, group_id: str, id: str | None, event: dict[str, Any], timestamp: int) -> tuple[str, int]:
    text = Change(stream, group_id, id, event, timestamp).text
    return text, encoded_size(text)


def _pages(stream: str, group_id: str, items: list[dict[str, Any]], timestamp: int,
           page_bytes: int) -> list[tuple[str, int]]:
    """A group sync in frames of at most ``page_bytes``: a ``sync`` of the first items, then one ``create`` per
    further item, without a top-level ``id`` so that only the group subscription applies it. Motia's clients end
    with the whole group, in order."""
    whole = _frame(stream, group_id, None, {"type": "sync", "data": items}, timestamp)
    if whole[1] <= page_bytes:
        return [whole]
    first, size = 0, _frame(stream, group_id, None, {"type": "sync", "data": []}, timestamp)[1]  # the envelope
    while first < len(items):
        size += encoded_size(encode_frame(items[first])) + 1
        if first and size > page_bytes:
            break
        first += 1
    frames = [_frame(stream, group_id, None, {"type": "sync", "data": items[:first]}, timestamp)]
    frames += [_frame(stream, group_id, None, {"type": "create", "data": item}, timestamp) for item in items[first:]]
    return frames


def _within(stream: str, group_id: str, items: list[dict[str, Any]], timestamp: int, page_bytes: int,
            max_bytes: int) -> list[tuple[str, int]]:
    """The pages of the newest ``items`` whose frames, envelopes and all, take at most ``max_bytes`` on the wire:
    the storage's budget counts the items' data only, and a sync must fit a send queue of ``SYNC_MAX_BYTES``."""
    frames = _pages(stream, group_id, items, timestamp, page_bytes)
    total = sum(size for _, size in frames)
    while total > max_bytes and items:
        excess, drop = total - max_bytes, 0
        while drop < len(items) and excess > 0:  # the oldest items first
            excess -= encoded_size(encode_frame(items[drop]))
            drop += 1
        items = items[drop:]
        frames = _pages(stream, group_id, items, timestamp, page_bytes)
        total = sum(size for _, size in frames)
    return frames


def snapshot(stream: Stream, sub: Subscription, *, max_bytes: int, page_bytes: int) -> Sync:
    """The ``sync`` for ``sub``, read after the subscription is registered (docs/protocol.md, "Joining"), and the
    group's sequence number read before it.

    An item sync carries the item's timestamp. A group sync carries the newest item's timestamp or now,
    whichever is greater: the client drops a group sync older than the last update/delete it saw, so after a
    reconnect a group whose newest item was deleted must still resync. A group sync holds the group's newest
    items, at most the stream's ``sync_limit`` of them and ``max_bytes`` on the wire, in frames of at most
    ``page_bytes``. ``FrameError("SYNC_TOO_LARGE")`` for an item too large for any frame (one written past
    ``MAX_ITEM_BYTES``, around the stream API).
    """
    seq = stream.backend.group_seq(stream.name, sub.group_id)
    if sub.item_id is None:
        rows = stream.backend.newest(stream.name, sub.group_id, stream.sync_limit, max_bytes)
        timestamp = max([now_ms(), *(stored.timestamp for _, stored in rows)])
        items = [stream.item(id, stored.data) for id, stored in rows]
        frames = _within(stream.name, sub.group_id, items, timestamp, min(page_bytes, MAX_OUTGOING_FRAME), max_bytes)
    else:
        stored = stream.backend.get(stream.name, sub.group_id, sub.item_id)
        if stored is None:
            timestamp, item = now_ms() - ABSENT_ITEM_MARGIN_MS, None
        else:
            timestamp, item = stored.timestamp or now_ms(), stream.item(sub.item_id, stored.data)
        frames = [_frame(stream.name, sub.group_id, sub.item_id, {"type": "sync", "data": item}, timestamp)]
    if any(size > MAX_OUTGOING_FRAME for _, size in frames):
        raise FrameError("SYNC_TOO_LARGE", f"an item is over {MAX_OUTGOING_FRAME} bytes", sub.stream, sub.group_id)
    return Sync(frames, seq)


#: A frame waiting behind a snapshot: the arguments of the socket's ``push`` (text, item, update, committed,
#: size).
Held = tuple[str, "tuple[str, str, str] | None", bool, "float | None", int]


class SnapshotHandoff:
    """Changes that arrive while a socket's snapshots are read wait, then follow the syncs, so a client never
    sees a change before the sync it belongs after (docs/protocol.md, "Joining"). One read at a time per
    socket; ``push`` is the socket's own, which the held frames go through afterwards. At most ``limit`` frames
    and ``max_bytes`` bytes wait. A socket needs one only while it reads (``idle`` once none is made or waits)."""

    __slots__ = ("_lock", "held", "held_bytes", "limit", "max_bytes", "push", "readers")

    def __init__(self, push: Callable[..., None], limit: int, max_bytes: int) -> None:
        self.push, self.limit, self.max_bytes = push, limit, max_bytes
        self.held: list[Held] | None = None
        self.held_bytes = 0
        self._lock = asyncio.Lock()
        self.readers = 0  # reads being made or waiting their turn

    @property
    def idle(self) -> bool:
        return not self.readers

    def hold(self, frame: Held) -> bool | None:
        """Keep ``frame`` for after the syncs: True; False when too much already waits (the client is cut off);
        None when no snapshot is being read (send it now)."""
        if self.held is None:
            return None
        if len(self.held) >= self.limit or self.held_bytes + frame[4] > self.max_bytes:
            return False
        self.held.append(frame)
        self.held_bytes += frame[4]
        return True

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[list[Callable[[], None]]]:
        """Read snapshots inside, appending to the list what sends each sync; on exit the syncs go out, then what
        was held meanwhile."""
        self.readers += 1
        try:
            async with self._lock:
                sends: list[Callable[[], None]] = []
                self.held, self.held_bytes = [], 0
                try:
                    yield sends
                finally:
                    held, self.held, self.held_bytes = self.held, None, 0
                    for send in sends:
                        send()
                    for frame in held:
                        self.push(*frame)
        finally:
            self.readers -= 1


def _valid(value: Any) -> str | None:
    try:
        return validate_key("name", value)
    except StreamValidationError:
        return None


def frame_names(data: Any) -> tuple[str | None, str | None]:
    """The stream and group a frame's ``data`` names, where they are valid names (for its error event; a frame
    naming none is ignored)."""
    if not isinstance(data, dict):
        return None, None
    return _valid(data.get("streamName")), _valid(data.get("groupId"))
