"""A client's subscriptions: their state, kept as Motia's JS client keeps it, and their changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Generic, Protocol, Self, TypeVar, cast

from motia_django.client.frames import DEFAULT, Change, ChangeType, Event, Frame, Item
from motia_django.exceptions import (
    StreamClientError,
    StreamTimeout,
)


class StreamClient(Protocol):
    """What a subscription needs of its client (``motia_django.client.connection.StreamClient``)."""

    @property
    def join_timeout(self) -> float: ...
    @property
    def connected(self) -> bool: ...
    @property
    def max_pending(self) -> int: ...

    def _leave(self, subscription: Subscription[Any]) -> None: ...

__all__ = ["GroupSubscription", "ItemSubscription", "Subscription"]

S = TypeVar("S")

logger = logging.getLogger("motia_django.client")





class Subscription(Generic[S]):
    """A live view of an item or a group: ``state``, and the changes as an async iterator.

    ``await sub`` (or ``await sub.ready()``) waits for the first ``sync``; ``async with sub:`` also leaves on
    exit. One task should iterate a subscription: each change is handed out once. A consumer that falls
    ``max_pending`` changes behind gets one ``sync`` change with the current state in place of the backlog
    (its events are lost), as the server cuts off a slow socket, which then resyncs.
    """

    def __init__(self, client: StreamClient, stream: str, group_id: str, id: str | None, state: S) -> None:
        self.client = client
        self.stream, self.group_id, self.id = stream, group_id, id
        self.subscription_id = str(uuid.uuid4())
        self._state = state
        self._queue: deque[Change] = deque()
        self._wakeup = asyncio.Event()
        self._changed = asyncio.Event()
        self._synced = asyncio.Event()
        self._syncs = 0
        self.error: BaseException | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.where}{' closed' if self.closed else ''}>"

    @property
    def state(self) -> S:
        """The current state (replaced, never mutated in place, on every change)."""
        return self._state

    @property
    def synced(self) -> bool:
        """Has the first ``sync`` arrived?"""
        return self._synced.is_set()

    # --- waiting ----------------------------------------------------------------------------------------------

    async def ready(self, timeout: float | None = DEFAULT) -> Self:
        """Wait for the first ``sync`` (``timeout`` seconds, by default the client's ``join_timeout``; None:
        for ever). Raises ``StreamJoinRefused`` when the server refused the join, ``StreamTimeout`` when
        nothing came."""
        timeout = self.client.join_timeout if timeout is DEFAULT else timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not (self._synced.is_set() or self.error is not None or self.closed):
                    await self._changed.wait()
        if self.error is not None:
            raise self.error.with_traceback(None)
        if not self._synced.is_set():
            if self.closed:
                raise StreamClientError(f"{self!r} was closed before its first sync")
            down = "" if self.client.connected else " (the connection is down; the client is reconnecting)"
            raise StreamTimeout(f"no sync for {self.where} within {timeout}s{down}")
        return self

    @property
    def where(self) -> str:
        """``stream/group`` or ``stream/group/id``, for messages."""
        return f"{self.stream}/{self.group_id}" + (f"/{self.id}" if self.id is not None else "")

    def __await__(self) -> Generator[Any, None, Self]:
        return self.ready().__await__()

    async def next(self, timeout: float | None = None) -> Change:
        """The next change. ``StreamTimeout`` after ``timeout`` seconds without one; ``StreamClientError``
        once the subscription is closed and its changes are all taken."""
        try:
            async with asyncio.timeout(timeout):
                return await self.__anext__()
        except TimeoutError:
            raise StreamTimeout(f"no change on {self.where} within {timeout}s") from None
        except StopAsyncIteration:
            raise StreamClientError(f"{self!r} is closed") from None

    async def wait_for(self, predicate: Callable[[S], object], timeout: float | None = None) -> S:
        """Wait until ``predicate(state)`` holds, and return that state (handy in scripts and tests)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not (predicate(self._state) or self.error is not None or self.closed):
                    await self._changed.wait()
        if predicate(self._state):
            return self._state
        if self.error is not None:
            raise self.error.with_traceback(None)
        if self.closed:
            raise StreamClientError(f"{self!r} was closed; its state is {self._state!r}")
        raise StreamTimeout(f"{self.where}: the state did not match within {timeout}s; it is {self._state!r}")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Change:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self.error is not None:
                raise self.error.with_traceback(None)
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    # --- leaving ----------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Leave: the server stops sending this subscription's changes; iteration ends."""
        if not self.closed:
            self.client._leave(self)
            self._end()

    async def __aenter__(self) -> Self:
        return await self.ready()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- driven by the client ---------------------------------------------------------------------------------

    def _end(self, error: BaseException | None = None) -> None:
        if error is not None and self.error is None:
            self.error = error
        self.closed = True
        self._notify()

    def _notify(self) -> None:
        self._wakeup.set()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _emit(self, change: Change) -> None:
        if change.type == "sync":
            self._syncs += 1
            self._synced.set()
        if len(self._queue) >= self.client.max_pending:
            logger.warning("%r: the consumer fell %d changes behind; they are replaced by one sync",
                           self, len(self._queue))
            self._queue.clear()
            item = cast(Item | None, self._state) if self.id is not None else None
            self._queue.append(Change("sync", self.stream, self.group_id, self.id, change.timestamp, self._state,
                                      item=item, resync=True))
        else:
            self._queue.append(change)
        self._notify()

    def _change(self, type: ChangeType, frame: Frame, *, item: Item | None = None,
                event: Event | None = None) -> Change:
        return Change(type, self.stream, self.group_id, frame.id, frame.timestamp, self._state, item=item,
                      event=event, resync=type == "sync" and self._syncs > 0)

    def _restart(self) -> None:
        """A new connection: forget the previous one's clock, so that its ``sync`` is taken whatever its time."""

    def _apply(self, frame: Frame) -> Change | None:
        raise NotImplementedError


class ItemSubscription(Subscription[Item | None]):
    """One item: ``state`` is the item (with ``id``) or None. Drops any frame not newer than the last one
    (events included), as Motia's ``StreamItemSubscription``."""

    def __init__(self, client: StreamClient, stream: str, group_id: str, id: str) -> None:
        super().__init__(client, stream, group_id, id, None)
        self.last_timestamp = 0

    def _restart(self) -> None:
        self.last_timestamp = 0

    def _apply(self, frame: Frame) -> Change | None:
        if frame.type in ("sync", "create", "update"):
            if frame.data is not None and not isinstance(frame.data, dict):
                return None
            if frame.type != "sync" and frame.data is None:
                return None
        if frame.timestamp <= self.last_timestamp:
            return None
        self.last_timestamp = frame.timestamp
        if frame.type in ("sync", "create", "update"):
            self._state = frame.data
            return self._change(cast(ChangeType, frame.type), frame, item=frame.data)
        if frame.type == "delete":
            self._state = None
            return self._change("delete", frame, item=frame.data if isinstance(frame.data, dict) else None)
        if frame.type == "event" and frame.event is not None:
            return self._change("event", frame, event=frame.event)
        return None


class GroupSubscription(Subscription[list[Item]]):
    """A group: ``state`` is its items in creation order, as Motia's ``StreamGroupSubscription`` keeps them."""

    def __init__(self, client: StreamClient, stream: str, group_id: str) -> None:
        super().__init__(client, stream, group_id, None, [])
        self.last_timestamp = 0
        self.item_timestamps: dict[str, int] = {}

    def _restart(self) -> None:
        self.last_timestamp = 0

    def _apply(self, frame: Frame) -> Change | None:
        ts = frame.timestamp
        if frame.type == "event":
            return None if frame.event is None else self._change("event", frame, event=frame.event)
        if frame.type == "sync":
            if not isinstance(frame.data, list) or ts < self.last_timestamp:
                return None
            self.item_timestamps = {}
            self.last_timestamp = ts
            self._state = [item for item in frame.data if isinstance(item, dict)]
            return self._change("sync", frame)
        data = frame.data
        if frame.type not in ("create", "update", "delete") or not isinstance(data, dict):
            return None
        id = data.get("id")
        present = any(item.get("id") == id for item in self._state)
        if frame.type == "create":
            if present:
                return None
            self._state = [*self._state, data]
            return self._change("create", frame, item=data)
        if frame.type == "update":
            seen = self.item_timestamps.get(id) if isinstance(id, str) else None
            if seen and seen >= ts:
                return None
            self.last_timestamp = ts
            if isinstance(id, str):
                self.item_timestamps[id] = ts
            if not present:
                return None
            self._state = [data if item.get("id") == id else item for item in self._state]
            return self._change("update", frame, item=data)
        self.last_timestamp = ts
        if isinstance(id, str):
            self.item_timestamps[id] = ts
        if not present:
            return None
        self._state = [item for item in self._state if item.get("id") != id]
        return self._change("delete", frame, item=data)


