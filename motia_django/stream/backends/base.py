"""Where stream items live: the ``Backend`` interface every storage is used through.

A backend yields, beside an item's data, the protocol's timestamp, whether a write created the item and the
group's sequence number, which the broadcaster needs. One module per backend, as Django's session backends:

- ``db.DatabaseBackend`` (``storageType: "default"``): the ``StreamItem`` table;
- ``custom.CustomBackend`` (``storageType: "custom"``): a project's ``StateStream``;
- ``model.ModelBackend``: a project's own model (a model-backed stream).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Backend", "StoredItem", "newest_within"]

@dataclass(frozen=True, slots=True)
class StoredItem:
    """One item as a backend returns it: its data (without ``id``), protocol timestamp, and write outcome."""

    data: dict[str, Any]
    timestamp: int
    created: bool = False
    seq: int | None = None  # the group's sequence number after this write (None: the storage keeps none)
    previous: dict[str, Any] | None = None  # the data before this write, where the storage read it anyway


class Backend(abc.ABC):
    """What the stream API needs from a storage; results carry timestamps and the create flag."""

    #: Writes from async code go through the database's writer (``motia_django.stream.write_queue``).
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

    def set_many(self, stream: str, group_id: str, items: list[tuple[str, dict[str, Any], str]]) -> list[StoredItem]:
        """``set`` for each ``(id, data, encoded)`` of one group (distinct ids), in order; a storage that can write
        them in a few statements overrides it (presence writes a join flood's members this way)."""
        return [self.set(stream, group_id, id, data, encoded) for id, data, encoded in items]

    def delete_many(self, stream: str, group_id: str, ids: list[str]) -> list[tuple[str, StoredItem]]:
        """``delete`` for each of ``ids`` (distinct) of one group, in order; returns what was deleted."""
        return [(id, stored) for id in ids if (stored := self.delete(stream, group_id, id)) is not None]

    @abc.abstractmethod
    def get_group(self, stream: str, group_id: str, limit: int | None = None) -> list[tuple[str, StoredItem]]:
        """The group's items oldest first; with ``limit``, only the newest ``limit`` of them."""

    @abc.abstractmethod
    def list_groups(self, stream: str) -> list[str]: ...

    def newest(self, stream: str, group_id: str, limit: int | None, max_bytes: int) -> list[tuple[str, StoredItem]]:
        """A group's sync: its newest items, at most ``limit`` of them and at most ``max_bytes`` of JSON data, oldest
        first. A storage that can read newest first without loading the whole group should override it."""
        return newest_within(reversed(self.get_group(stream, group_id, limit)), max_bytes)

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


def newest_within(newest_first: Iterable[tuple[str, StoredItem]], max_bytes: int) -> list[tuple[str, StoredItem]]:
    """Items taken newest first while their JSON fits in ``max_bytes``; returned oldest first."""
    kept: list[tuple[str, StoredItem]] = []
    total = 0
    for item_id, stored in newest_first:
        total += len(orjson.dumps(stored.data)) + len(item_id) + 8  # the id and the punctuation it adds
        if total > max_bytes:
            break
        kept.append((item_id, stored))
    kept.reverse()
    return kept
