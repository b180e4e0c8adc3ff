"""Where stream items live.

``StateStream`` is the public base class for ``storageType: "custom"`` (the name Motia gives it): four plain
methods over JSON objects. The framework wraps every storage in a ``Backend`` that also yields the protocol's
timestamp and whether a write created the item, which is what the broadcaster needs:

- ``DatabaseBackend`` (``storageType: "default"``) keeps items in the ``StreamItem`` table and decides
  timestamp and create-vs-update in the write statement itself (``INSERT ... ON CONFLICT ... RETURNING``).
- ``CustomBackend`` wraps a user's ``StateStream``; it stamps timestamps from a per-stream monotonic clock and
  serialises writes to the stream within the process (atomicity across processes is the storage's own).
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.utils import timezone

from motia_django.core import decode, next_timestamp, now_ms
from motia_django.models import StreamItem

__all__ = ["Backend", "CustomBackend", "DatabaseBackend", "StateStream", "StoredItem"]

@dataclass(frozen=True, slots=True)
class StoredItem:
    """One item as a backend returns it: its data (without ``id``), protocol timestamp, and write outcome."""

    data: dict[str, Any]
    timestamp: int
    created: bool = False


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

    @abc.abstractmethod
    def get(self, stream: str, group_id: str, id: str) -> StoredItem | None: ...

    @abc.abstractmethod
    def set(self, stream: str, group_id: str, id: str, data: dict[str, Any], encoded: str) -> StoredItem: ...

    @abc.abstractmethod
    def delete(self, stream: str, group_id: str, id: str) -> StoredItem | None: ...

    @abc.abstractmethod
    def get_group(self, stream: str, group_id: str) -> list[tuple[str, StoredItem]]: ...

    @abc.abstractmethod
    def list_groups(self, stream: str) -> list[str]: ...

    @abc.abstractmethod
    def update(
        self, stream: str, group_id: str, id: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> StoredItem:
        """Atomically replace the item's data (None if missing) with ``change(data)``; create if missing."""

    def db_alias(self) -> str | None:
        """Database whose transaction the write joins (for on-commit broadcasting); None if not a database."""
        return None


class DatabaseBackend(Backend):
    """Items in the ``StreamItem`` table; ``set`` is one round trip where the database has upsert+RETURNING."""

    def db_alias(self) -> str:
        return router.db_for_write(StreamItem)

    def _read_alias(self) -> str:
        return router.db_for_read(StreamItem)

    def get(self, stream: str, group_id: str, id: str) -> StoredItem | None:
        row = (
            StreamItem.objects.using(self._read_alias())
            .filter(stream=stream, group_id=group_id, item_id=id)
            .values_list("data", "timestamp")
            .first()
        )
        return StoredItem(row[0], row[1]) if row else None

    def get_group(self, stream: str, group_id: str) -> list[tuple[str, StoredItem]]:
        rows = (
            StreamItem.objects.using(self._read_alias())
            .filter(stream=stream, group_id=group_id)
            .order_by("created_at", "id")
            .values_list("item_id", "data", "timestamp")
        )
        return [(item_id, StoredItem(data, ts)) for item_id, data, ts in rows]

    def list_groups(self, stream: str) -> list[str]:
        qs = StreamItem.objects.using(self._read_alias()).filter(stream=stream)
        return list(qs.order_by("group_id").values_list("group_id", flat=True).distinct())

    def delete(self, stream: str, group_id: str, id: str) -> StoredItem | None:
        connection = connections[self.db_alias()]
        table = connection.ops.quote_name(StreamItem._meta.db_table)
        if self._one_statement(connection):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE stream = %s AND group_id = %s AND item_id = %s "
                    f"RETURNING data, timestamp",
                    [stream, group_id, id],
                )
                row = cursor.fetchone()
            if row is None:
                return None
            data = decode(row[0]) if isinstance(row[0], str | bytes) else row[0]
            return StoredItem(data, next_timestamp(row[1]))
        with transaction.atomic(using=connection.alias):
            found = (
                StreamItem.objects.using(connection.alias)
                .select_for_update()
                .filter(stream=stream, group_id=group_id, item_id=id)
                .values_list("pk", "data", "timestamp")
                .first()
            )
            if found is None:
                return None
            StreamItem.objects.using(connection.alias).filter(pk=found[0])._raw_delete(connection.alias)
        return StoredItem(found[1], next_timestamp(found[2]))

    @staticmethod
    def _one_statement(connection: Any) -> bool:
        return connection.vendor in ("postgresql", "sqlite") and connection.features.can_return_columns_from_insert

    def set(self, stream: str, group_id: str, id: str, data: dict[str, Any], encoded: str) -> StoredItem:
        alias = self.db_alias()
        connection = connections[alias]
        if self._one_statement(connection):
            return self._upsert(connection, stream, group_id, id, data, encoded)
        return self._set_portable(alias, stream, group_id, id, data)

    def _upsert(
        self, connection: Any, stream: str, group_id: str, id: str, data: dict[str, Any], encoded: str
    ) -> StoredItem:
        table = connection.ops.quote_name(StreamItem._meta.db_table)
        now = timezone.now()
        ts = now_ms()
        dt = connection.ops.adapt_datetimefield_value(now)
        json_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
        # The timestamp rule (core.next_timestamp, in SQL) and the create/update decision are made by the
        # database, atomically with the write: version is 1 only when this statement inserted the row.
        sql = (
            f"INSERT INTO {table} (stream, group_id, item_id, data, version, timestamp, created_at, updated_at) "
            f"VALUES (%s, %s, %s, {json_param}, 1, %s, %s, %s) "
            f"ON CONFLICT (stream, group_id, item_id) DO UPDATE SET "
            f"data = excluded.data, version = {table}.version + 1, "
            f"timestamp = CASE WHEN excluded.timestamp > {table}.timestamp "
            f"THEN excluded.timestamp ELSE {table}.timestamp + 1 END, "
            f"updated_at = excluded.updated_at "
            f"RETURNING version, timestamp"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [stream, group_id, id, encoded, ts, dt, dt])
            version, timestamp = cursor.fetchone()
        return StoredItem(data, timestamp, created=version == 1)

    def update(
        self, stream: str, group_id: str, id: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> StoredItem:
        alias = self.db_alias()
        manager = StreamItem.objects.using(alias)
        while True:
            try:
                with transaction.atomic(using=alias):
                    key = manager.select_for_update().filter(stream=stream, group_id=group_id, item_id=id)
                    row = key.values_list("data", "timestamp").first()
                    data = change(row[0] if row else None)
                    now = timezone.now()
                    if row is None:
                        # bulk_create: a plain INSERT (no save() signals); a concurrent create makes it fail
                        # and the loop retries on the now-existing row.
                        ts = now_ms()
                        manager.bulk_create([StreamItem(
                            stream=stream, group_id=group_id, item_id=id, data=data,
                            timestamp=ts, created_at=now, updated_at=now,
                        )])
                        return StoredItem(data, ts, created=True)
                    ts = next_timestamp(row[1])
                    key.update(data=data, timestamp=ts, version=F("version") + 1, updated_at=now)
                    return StoredItem(data, ts)
            except IntegrityError:
                continue

    def _set_portable(self, alias: str, stream: str, group_id: str, id: str, data: dict[str, Any]) -> StoredItem:
        """Fallback for databases without upsert+RETURNING: a locked read then a write, in one transaction."""
        while True:
            try:
                with transaction.atomic(using=alias):
                    manager = StreamItem.objects.using(alias)
                    row = manager.select_for_update().filter(stream=stream, group_id=group_id, item_id=id).first()
                    now = timezone.now()
                    if row is None:
                        row = manager.create(
                            stream=stream, group_id=group_id, item_id=id, data=data,
                            timestamp=now_ms(), created_at=now, updated_at=now,
                        )
                        return StoredItem(data, row.timestamp, created=True)
                    ts = next_timestamp(row.timestamp)
                    manager.filter(pk=row.pk).update(data=data, timestamp=ts, version=row.version + 1, updated_at=now)
                    return StoredItem(data, ts)
            except IntegrityError:
                continue  # created concurrently: take the update path


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

    def get_group(self, stream: str, group_id: str) -> list[tuple[str, StoredItem]]:
        ts = self._last_ts or now_ms()
        return [(item_id, StoredItem(d, ts)) for item_id, d in self.storage.get_group(group_id)]

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

