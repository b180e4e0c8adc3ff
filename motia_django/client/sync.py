"""``SyncStreamClient``: the async client on a background thread, for plain scripts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Generic, Self, TypeVar

from motia_django.client.connection import StreamClient
from motia_django.client.frames import DEFAULT, Item, Notification
from motia_django.client.subscriptions import Subscription
from motia_django.exceptions import (
    StreamClientError,
    StreamTimeout,
)

__all__ = ["SyncStreamClient", "SyncSubscription", "connect"]

S = TypeVar("S")
T = TypeVar("T")

logger = logging.getLogger("motia_django.client")



class SyncStreamClient:
    """``StreamClient`` for plain (non-async) code: the client runs on an event loop in a daemon thread.

    ``item()`` and ``group()`` wait for the first sync and return a ``SyncSubscription``. Use it as a context
    manager, or ``close()`` it; a script that just exits needs neither.
    """

    def __init__(self, url: str, token: str | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="motia-stream-client", daemon=True)
        self._thread.start()
        try:
            self.client = self._call(self._connect(url, token, options))
        except BaseException:
            self._stop()
            raise

    @staticmethod
    async def _connect(url: str, token: str | None, options: dict[str, Any]) -> StreamClient:
        return await StreamClient(url, token, **options).connect()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise StreamClientError("this SyncStreamClient is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def connected(self) -> bool:
        return self.client.connected

    def item(self, stream: str, group_id: str, id: str, *,
             timeout: float | None = DEFAULT) -> SyncSubscription[Item | None]:
        """Subscribe to one item; returns once its first state is there (``StreamJoinRefused`` if refused)."""
        return SyncSubscription(self, self._call(self._ready(lambda: self.client.item(stream, group_id, id), timeout)))

    def group(self, stream: str, group_id: str, *, timeout: float | None = DEFAULT) -> SyncSubscription[list[Item]]:
        """Subscribe to a group; returns once its first state is there."""
        return SyncSubscription(self, self._call(self._ready(lambda: self.client.group(stream, group_id), timeout)))

    @staticmethod
    async def _ready(make: Callable[[], Subscription[S]], timeout: float | None) -> Subscription[S]:
        return await make().ready(timeout)

    def close(self) -> None:
        """Leave everything, close the socket and stop the thread."""
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self.client.close(), timeout=15)
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncSubscription(Generic[S]):
    """A subscription seen from plain code: ``state``/``get()``, ``wait_for()``, ``changes()``, ``close()``."""

    def __init__(self, owner: SyncStreamClient, sub: Subscription[S]) -> None:
        self._owner, self.subscription = owner, sub

    @property
    def state(self) -> S:
        return self.subscription.state

    def get(self) -> S:
        """The current state: the item (or None), or the group's items."""
        return self.subscription.state

    def next(self, timeout: float | None = None) -> Notification:
        """The next notification (``StreamTimeout`` after ``timeout`` seconds)."""
        return self._owner._call(self.subscription.next(timeout))

    def changes(self, timeout: float | None = None) -> Iterator[Notification]:
        """The notifications as they come; stops when ``timeout`` seconds pass without one, or on close."""
        while True:
            try:
                yield self.next(timeout)
            except StreamTimeout:
                return
            except StreamClientError:
                if self.subscription.closed and self.subscription.error is None:
                    return
                raise

    def wait_for(self, predicate: Callable[[S], object], timeout: float | None = None) -> S:
        """Block until ``predicate(state)`` holds; returns the state."""
        return self._owner._call(self.subscription.wait_for(predicate, timeout))

    def close(self) -> None:
        self._owner._call(self.subscription.close())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(url: str, token: str | None = None, **options: Any) -> SyncStreamClient:
    """A connected ``SyncStreamClient``: ``connect(url).item("openai", trace_id, "message").get()``."""
    return SyncStreamClient(url, token, **options)
