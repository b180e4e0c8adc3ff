"""Custom storage: ``storageType: "custom"`` with a ``factory`` returning a ``StateStream``.

``StateStream`` is the public base class (the name Motia gives it): four plain methods over JSON objects.
``CustomBackend`` wraps it; it stamps timestamps from a per-stream monotonic clock and serialises writes to the
stream within the process (atomicity across processes is the storage's own). Its changes carry no sequence
number, so a lost message is noticed only through the relay's heartbeat (an outage resyncs every group), not by
a gap.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from typing import Any

from motia_django.stream.backends.base import Backend, StoredItem
from motia_django.stream.items import next_timestamp, now_ms

__all__ = ["CustomBackend", "StateStream"]


class StateStream(abc.ABC):
    """Base class for custom stream storage (``baseConfig: {"storageType": "custom", "factory": ...}``).

    Implement the four methods over plain JSON objects (the item's data without its ``id``). motia_django
    validates data before ``set``, stamps timestamps, and broadcasts after each write.
    """

    @abc.abstractmethod
    def get(self, group_id: str, id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def set(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Store ``data``; may return what was stored (else ``data`` is taken as stored)."""

    @abc.abstractmethod
    def delete(self, group_id: str, id: str) -> dict[str, Any] | None:
        """Remove the item; return its data, or None if there was none."""

    @abc.abstractmethod
    def get_group(self, group_id: str) -> list[tuple[str, dict[str, Any]]]:
        """``(id, data)`` pairs of the group, in creation order."""

    def list_groups(self) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} does not implement list_groups()")


class CustomBackend(Backend):
    """Adapts a user's ``StateStream``: stamps timestamps and tells create from update around it."""

    def __init__(self, storage: StateStream) -> None:
        self.storage = storage
        self._lock = threading.RLock()
        self._last_ts = 0

    def _next_ts(self) -> int:
        self._last_ts = next_timestamp(self._last_ts)
        return self._last_ts

    def get(self, stream: str, group_id: str, id: str) -> StoredItem | None:
        data = self.storage.get(group_id, id)
        return None if data is None else StoredItem(data, self._last_ts or now_ms())

    def get_group(self, stream: str, group_id: str, limit: int | None = None) -> list[tuple[str, StoredItem]]:
        ts = self._last_ts or now_ms()
        items = [(item_id, StoredItem(d, ts)) for item_id, d in self.storage.get_group(group_id)]
        return items if limit is None else items[-limit:] if limit else []

    def list_groups(self, stream: str) -> list[str]:
        return list(self.storage.list_groups())

    def set(self, stream: str, group_id: str, id: str, data: dict[str, Any], encoded: str) -> StoredItem:
        with self._lock:
            existed = self.storage.get(group_id, id) is not None
            stored = self.storage.set(group_id, id, data)
            return StoredItem(stored if stored is not None else data, self._next_ts(), not existed)

    def update(
        self, stream: str, group_id: str, id: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> StoredItem:
        with self._lock:
            current = self.storage.get(group_id, id)
            data = change(current)
            stored = self.storage.set(group_id, id, data)
            return StoredItem(stored if stored is not None else data, self._next_ts(), current is None)

    def delete(self, stream: str, group_id: str, id: str) -> StoredItem | None:
        with self._lock:
            data = self.storage.delete(group_id, id)
            return None if data is None else StoredItem(data, self._next_ts())

