"""Where stream items live: the ``Backend`` interface, and custom storage.

``StateStream`` is the public base class for ``storageType: "custom"`` (the name Motia gives it): four plain
methods over JSON objects. The framework wraps every storage in a ``Backend`` that also yields the protocol's
timestamp, whether a write created the item and the group's sequence number, which the broadcaster needs:

- ``motia_django.database.DatabaseBackend`` (``storageType: "default"``): the ``StreamItem`` table.
- ``CustomBackend`` wraps a user's ``StateStream``; it stamps timestamps from a per-stream monotonic clock and
  serialises writes to the stream within the process (atomicity across processes is the storage's own). Its
  changes carry no sequence number, so a lost message is noticed only through the relay's heartbeat (an
  outage resyncs every group), not by a gap.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from motia_django.core import next_timestamp, now_ms

__all__ = ["Backend", "CustomBackend", "StateStream", "StoredItem"]

@dataclass(frozen=True, slots=True)
class StoredItem:
    """One item as a backend returns it: its data (without ``id``), protocol timestamp, and write outcome."""

    data: dict[str, Any]
    timestamp: int
    created: bool = False
    seq: int | None = None  # the group's sequence number after this write (None: the storage keeps none)
    previous: dict[str, Any] | None = None  # the data before this write, where the storage read it anyway


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


class Backend(abc.ABC):
    """What the stream API needs from a storage; results carry timestamps and the create flag."""

    #: Writes from async code go through the database's writer (``motia_django.writes``).
    pipelined = False
    #: The storage broadcasts its writes itself (a model's receivers), so the stream API does not.
    broadcasts = False
    #: What tools call the storage (``manage.py streams list``).
    kind = "custom"

    @abc.abstractmethod
    def get(self, stream: str, group_id: str, id: str) -> StoredItem | None: ...

    @abc.abstractmethod
    def set(self, stream: str, group_id: str, id: str, data: dict[str, Any], encoded: str) -> StoredItem: ...

    @abc.abstractmethod
    def delete(self, stream: str, group_id: str, id: str) -> StoredItem | None: ...

    @abc.abstractmethod
    def get_group(self, stream: str, group_id: str, limit: int | None = None) -> list[tuple[str, StoredItem]]:
        """The group's items oldest first; with ``limit``, only the newest ``limit`` of them."""

    @abc.abstractmethod
    def list_groups(self, stream: str) -> list[str]: ...

    def group_seq(self, stream: str, group_id: str) -> int | None:
        """The group's sequence number now (read before its items for a snapshot); None if not kept."""
        return None

    def group_sizes(self, stream: str) -> dict[str, int]:
        """Items per group, for tools; NotImplementedError when the storage cannot list its groups."""
        return {group: len(self.get_group(stream, group)) for group in self.list_groups(stream)}

    def clear(self, stream: str, group_id: str) -> list[tuple[str, StoredItem]]:
        """Delete every item of the group; returns what was deleted."""
        removed = []
        for item_id, _stored in self.get_group(stream, group_id):
            stored = self.delete(stream, group_id, item_id)
            if stored is not None:
                removed.append((item_id, stored))
        return removed

    @abc.abstractmethod
    def update(
        self, stream: str, group_id: str, id: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> StoredItem:
        """Atomically replace the item's data (None if missing) with ``change(data)``; create if missing."""

    def db_alias(self) -> str | None:
        """Database whose transaction the write joins (for on-commit broadcasting); None if not a database."""
        return None


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

