"""A client's subscriptions: what a script reads (``Subscription``) and what the connection drives (``Feed``).

A ``Feed`` keeps one subscription's state as Motia's JS client keeps it (``ItemFeed``, ``GroupFeed``), its clock,
and the queue of ``Notification``s not yet taken. The connection (``motia_django.client.connection``) calls its
``receive``, ``restart`` and ``end``; a ``Subscription`` only reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Generic, Protocol, Self, TypeVar, cast

from motia_django.client.frames import DEFAULT, EphemeralEvent, Item, Notification, NotificationType, ServerFrame
from motia_django.exceptions import StreamClientError, StreamTimeout

__all__ = ["Feed", "GroupFeed", "GroupSubscription", "ItemFeed", "ItemSubscription", "Subscription"]

S = TypeVar("S")

logger = logging.getLogger("motia_django.client")


class Connection(Protocol):
    """What a subscription needs of its client (``motia_django.client.connection.StreamClient``)."""

    @property
    def join_timeout(self) -> float: ...
    @property
    def connected(self) -> bool: ...

    def leave(self, subscription: Subscription[Any]) -> None: ...


class Feed(Generic[S]):
    """One subscription's state, clock and pending notifications, driven by the connection.

    A reader that falls ``max_pending`` notifications behind gets one ``sync`` with the current state in place
    of the backlog (its events are lost), as the server cuts off a slow socket, which then resyncs.
    """

    def __init__(self, stream: str, group_id: str, id: str | None, state: S, max_pending: int) -> None:
        self.stream, self.group_id, self.id = stream, group_id, id
        self.state = state
        self.max_pending = max_pending
        self.queue: deque[Notification] = deque()
        self.wakeup = asyncio.Event()  # set when something is queued or the feed ends
        self.changed = asyncio.Event()  # replaced on every change, so waiters see each one
        self.synced = asyncio.Event()
        self.syncs = 0
        self.error: BaseException | None = None
        self.closed = False

    def receive(self, frame: ServerFrame) -> None:
        """Apply a server frame for this subscription; queue what it changed, if anything."""
        notification = self.apply(frame)
        if notification is not None:
            self.put(notification)

    def restart(self) -> None:
        """A new connection: forget the previous one's clock, so that its ``sync`` is taken whatever its time."""

    def end(self, error: BaseException | None = None) -> None:
        """No more notifications: closed, or failed with ``error``."""
        if error is not None and self.error is None:
            self.error = error
        self.closed = True
        self.notify()

    def apply(self, frame: ServerFrame) -> Notification | None:
        raise NotImplementedError

    def put(self, notification: Notification) -> None:
        if notification.type == "sync":
            self.syncs += 1
            self.synced.set()
        if len(self.queue) >= self.max_pending:
            logger.warning("%s/%s: the consumer fell %d changes behind; they are replaced by one sync",
                           self.stream, self.group_id, len(self.queue))
            self.queue.clear()
            item = cast(Item | None, self.state) if self.id is not None else None
            self.queue.append(Notification("sync", self.stream, self.group_id, self.id, notification.timestamp,
                                           self.state, item=item, resync=True))
        else:
            self.queue.append(notification)
        self.notify()

    def notify(self) -> None:
        self.wakeup.set()
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def notification(self, type: NotificationType, frame: ServerFrame, *, item: Item | None = None,
                     event: EphemeralEvent | None = None) -> Notification:
        return Notification(type, self.stream, self.group_id, frame.id, frame.timestamp, self.state, item=item,
                            event=event, resync=type == "sync" and self.syncs > 0)


class ItemFeed(Feed[Item | None]):
    """One item: the state is the item (with ``id``) or None. Drops any frame not newer than the last one (events
    included), as Motia's ``StreamItemSubscription``."""

    def __init__(self, stream: str, group_id: str, id: str, max_pending: int) -> None:
        super().__init__(stream, group_id, id, None, max_pending)
        self.last_timestamp = 0

    def restart(self) -> None:
        self.last_timestamp = 0

    def apply(self, frame: ServerFrame) -> Notification | None:
        if frame.type in ("sync", "create", "update"):
            if frame.data is not None and not isinstance(frame.data, dict):
                return None
            if frame.type != "sync" and frame.data is None:
                return None
        if frame.timestamp <= self.last_timestamp:
            return None
        self.last_timestamp = frame.timestamp
        if frame.type in ("sync", "create", "update"):
            self.state = frame.data
            return self.notification(cast(NotificationType, frame.type), frame, item=frame.data)
        if frame.type == "delete":
            self.state = None
            return self.notification("delete", frame, item=frame.data if isinstance(frame.data, dict) else None)
        if frame.type == "event" and frame.event is not None:
            return self.notification("event", frame, event=frame.event)
        return None


class GroupFeed(Feed[list[Item]]):
    """A group: the state is its items in creation order, as Motia's ``StreamGroupSubscription`` keeps them."""

    def __init__(self, stream: str, group_id: str, max_pending: int) -> None:
        super().__init__(stream, group_id, None, [], max_pending)
        self.last_timestamp = 0
        self.item_timestamps: dict[str, int] = {}

    def restart(self) -> None:
        self.last_timestamp = 0

    def apply(self, frame: ServerFrame) -> Notification | None:
        if frame.type == "event":
            return None if frame.event is None else self.notification("event", frame, event=frame.event)
        if frame.type == "sync":
            if not isinstance(frame.data, list) or frame.timestamp < self.last_timestamp:
                return None
            self.item_timestamps = {}
            self.last_timestamp = frame.timestamp
            self.state = [item for item in frame.data if isinstance(item, dict)]
            return self.notification("sync", frame)
        data = frame.data
        if frame.type not in ("create", "update", "delete") or not isinstance(data, dict):
            return None
        if frame.type == "create":
            return self._create(frame, data)
        return self._changed(frame, data)

    def _create(self, frame: ServerFrame, data: Item) -> Notification | None:
        if any(item.get("id") == data.get("id") for item in self.state):
            return None
        self.state = [*self.state, data]
        return self.notification("create", frame, item=data)

    def _changed(self, frame: ServerFrame, data: Item) -> Notification | None:
        """An update or a delete: newer than the item's last one, of an item the group holds."""
        id, ts = data.get("id"), frame.timestamp
        if frame.type == "update":
            seen = self.item_timestamps.get(id) if isinstance(id, str) else None
            if seen and seen >= ts:
                return None
        self.last_timestamp = ts
        if isinstance(id, str):
            self.item_timestamps[id] = ts
        if not any(item.get("id") == id for item in self.state):
            return None
        if frame.type == "update":
            self.state = [data if item.get("id") == id else item for item in self.state]
            return self.notification("update", frame, item=data)
        self.state = [item for item in self.state if item.get("id") != id]
        return self.notification("delete", frame, item=data)


class Subscription(Generic[S]):
    """A live view of an item or a group: ``state``, and its notifications as an async iterator.

    ``await sub`` (or ``await sub.ready()``) waits for the first ``sync``; ``async with sub:`` also leaves on
    exit. One task should iterate a subscription: each notification is handed out once.
    """

    def __init__(self, client: Connection, feed: Feed[S]) -> None:
        self.client, self.feed = client, feed
        self.stream, self.group_id, self.id = feed.stream, feed.group_id, feed.id
        self.subscription_id = str(uuid.uuid4())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.where}{' closed' if self.closed else ''}>"

    @property
    def state(self) -> S:
        """The current state (replaced, never mutated in place, on every change)."""
        return self.feed.state

    @property
    def synced(self) -> bool:
        """Has the first ``sync`` arrived?"""
        return self.feed.synced.is_set()

    @property
    def closed(self) -> bool:
        return self.feed.closed

    @property
    def error(self) -> BaseException | None:
        """Why the subscription ended, if it did not end by ``close()``."""
        return self.feed.error

    @property
    def where(self) -> str:
        """``stream/group`` or ``stream/group/id``, for messages."""
        return f"{self.stream}/{self.group_id}" + (f"/{self.id}" if self.id is not None else "")

    # --- waiting ----------------------------------------------------------------------------------------------

    async def ready(self, timeout: float | None = DEFAULT) -> Self:
        """Wait for the first ``sync`` (``timeout`` seconds, by default the client's ``join_timeout``; None:
        for ever). Raises ``StreamJoinRefused`` when the server refused the join, ``StreamTimeout`` when
        nothing came."""
        timeout = self.client.join_timeout if timeout is DEFAULT else timeout
        feed = self.feed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not (feed.synced.is_set() or feed.error is not None or feed.closed):
                    await feed.changed.wait()
        if feed.error is not None:
            raise feed.error.with_traceback(None)
        if not feed.synced.is_set():
            if feed.closed:
                raise StreamClientError(f"{self!r} was closed before its first sync")
            down = "" if self.client.connected else " (the connection is down; the client is reconnecting)"
            raise StreamTimeout(f"no sync for {self.where} within {timeout}s{down}")
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self.ready().__await__()

    async def next(self, timeout: float | None = None) -> Notification:
        """The next notification. ``StreamTimeout`` after ``timeout`` seconds without one; ``StreamClientError``
        once the subscription is closed and its notifications are all taken."""
        try:
            async with asyncio.timeout(timeout):
                return await self.__anext__()
        except TimeoutError:
            raise StreamTimeout(f"no change on {self.where} within {timeout}s") from None
        except StopAsyncIteration:
            raise StreamClientError(f"{self!r} is closed") from None

    async def wait_for(self, predicate: Callable[[S], object], timeout: float | None = None) -> S:
        """Wait until ``predicate(state)`` holds, and return that state (handy in scripts and tests)."""
        feed = self.feed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not (predicate(feed.state) or feed.error is not None or feed.closed):
                    await feed.changed.wait()
        if predicate(feed.state):
            return feed.state
        if feed.error is not None:
            raise feed.error.with_traceback(None)
        if feed.closed:
            raise StreamClientError(f"{self!r} was closed; its state is {feed.state!r}")
        raise StreamTimeout(f"{self.where}: the state did not match within {timeout}s; it is {feed.state!r}")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Notification:
        feed = self.feed
        while True:
            if feed.queue:
                return feed.queue.popleft()
            if feed.error is not None:
                raise feed.error.with_traceback(None)
            if feed.closed:
                raise StopAsyncIteration
            feed.wakeup.clear()
            await feed.wakeup.wait()

    # --- leaving ----------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Leave: the server stops sending this subscription's changes; iteration ends."""
        if not self.feed.closed:
            self.client.leave(self)
            self.feed.end()

    async def __aenter__(self) -> Self:
        return await self.ready()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ItemSubscription(Subscription[Item | None]):
    """One item: ``state`` is the item (with ``id``) or None."""

    def __init__(self, client: Connection, stream: str, group_id: str, id: str, max_pending: int) -> None:
        super().__init__(client, ItemFeed(stream, group_id, id, max_pending))


class GroupSubscription(Subscription[list[Item]]):
    """A group: ``state`` is its items in creation order."""

    def __init__(self, client: Connection, stream: str, group_id: str, max_pending: int) -> None:
        super().__init__(client, GroupFeed(stream, group_id, max_pending))
