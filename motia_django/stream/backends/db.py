"""The default storage: items in the ``StreamItem`` table, each group's sequence and floor in ``StreamGroup``.

Every write decides, atomically with itself, what subscribers depend on (docs/protocol.md):

- the item's timestamp, ``max(now, previous + 1, floor + 1)``: strictly increasing per item, and greater than
  any delete of the group, so an item re-created in the same millisecond is not dropped;
- create or update: ``version`` is 1 only when the write inserted the row;
- the group's sequence number, one more per committed write, in commit order (gap detection).

Locks are always taken group row first, then item row, so concurrent writers cannot deadlock. On PostgreSQL a
``set`` is one statement (the group bump is a CTE); on SQLite two, in one transaction (SQLite has no
data-modifying CTE, and takes one writer at a time anyway). Other databases take a portable ORM path.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Count, F
from django.utils import timezone

from motia_django.models import StreamGroup, StreamItem
from motia_django.stream.backends.base import Backend, StoredItem, newest_within
from motia_django.stream.items import next_timestamp, now_ms

__all__ = ["DatabaseBackend", "group_seqs"]

_ITEMS = StreamItem._meta.db_table
_GROUPS = StreamGroup._meta.db_table
_BATCH = 100  # rows per statement of a batch write: 8 parameters each, well under SQLite's limit


class _Nothing(Exception):
    """Raised inside a savepoint to undo a group bump when there was nothing to delete."""


def _written_out(connection: Any) -> bool:
    """Reads by hand-written statements, as the writes are: the SQL below is SQLite's and PostgreSQL's."""
    return connection.vendor in ("postgresql", "sqlite")


def _fast(connection: Any) -> bool:
    """Writes by hand-written statements: those need ``RETURNING`` too."""
    return _written_out(connection) and connection.features.can_return_columns_from_insert


_CHUNK = 100  # rows fetched at a time by a read that may stop early
_DATA: Any = StreamItem._meta.get_field("data")  # its from_db_value, as the ORM calls it


def _data(value: Any, connection: Any) -> Any:
    """A ``data`` column read by a written-out statement, decoded as the field decodes it for the ORM
    (``StoredJSONDecoder``); a driver that hands back parsed JSON is taken at its word."""
    return _DATA.from_db_value(value, None, connection) if isinstance(value, str | bytes) else value


def _rows(connection: Any, tail: str, params: list[Any]) -> Generator[tuple[str, StoredItem], None, None]:
    """``(item_id, StoredItem)`` of ``SELECT ... WHERE stream = %s AND group_id = %s <tail>``, fetched
    ``_CHUNK`` rows at a time."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT item_id, data, timestamp FROM {connection.ops.quote_name(_ITEMS)} "
                       f"WHERE stream = %s AND group_id = %s {tail}", params)
        while chunk := cursor.fetchmany(_CHUNK):
            for item_id, data, timestamp in chunk:
                yield item_id, StoredItem(_data(data, connection), timestamp)


def _greatest(connection: Any) -> str:
    return "GREATEST" if connection.vendor == "postgresql" else "MAX"


class DatabaseBackend(Backend):
    """Items in the ``StreamItem`` table (see the module docstring)."""

    pipelined = True
    kind = "default"

    def db_alias(self) -> str:
        return router.db_for_write(StreamItem)

    def _read_alias(self) -> str:
        return router.db_for_read(StreamItem)

    # --- reads -------------------------------------------------------------------------------------------

    def get(self, stream: str, group_id: str, id: str) -> StoredItem | None:
        connection = connections[self._read_alias()]
        if not _written_out(connection):
            row = (StreamItem.objects.using(connection.alias).filter(stream=stream, group_id=group_id, item_id=id)
                   .values_list("data", "timestamp").first())
            return StoredItem(row[0], row[1]) if row else None
        rows = _rows(connection, "AND item_id = %s", [stream, group_id, id])
        found = next(rows, None)
        rows.close()  # the cursor, now
        return found[1] if found else None

    def get_group(self, stream: str, group_id: str, limit: int | None = None) -> list[tuple[str, StoredItem]]:
        rows = StreamItem.objects.using(self._read_alias()).filter(stream=stream, group_id=group_id)
        if limit is not None:  # the newest ``limit``, still oldest first
            rows = rows.order_by("-created_at", "-id")[:limit]
            found = list(rows.values_list("item_id", "data", "timestamp"))[::-1]
        else:
            found = list(rows.order_by("created_at", "id").values_list("item_id", "data", "timestamp"))
        return [(item_id, StoredItem(data, ts)) for item_id, data, ts in found]

    def newest(self, stream: str, group_id: str, limit: int | None, max_bytes: int) -> list[tuple[str, StoredItem]]:
        """Read newest first, in chunks, and stop at the budget: a large group is never loaded whole. Every
        join's snapshot is this read; written out on SQLite and PostgreSQL, where the ORM's building and compile
        of the query cost about 0.29 ms against 0.02 for the statement on an empty group."""
        connection = connections[self._read_alias()]
        if not _written_out(connection):
            rows = (StreamItem.objects.using(connection.alias).filter(stream=stream, group_id=group_id)
                    .order_by("-created_at", "-id").values_list("item_id", "data", "timestamp"))
            if limit is not None:
                rows = rows[:limit]
            return newest_within(((item_id, StoredItem(data, ts)) for item_id, data, ts in
                                  rows.iterator(chunk_size=_CHUNK)), max_bytes)
        tail = "ORDER BY created_at DESC, id DESC" + ("" if limit is None else f" LIMIT {int(limit)}")
        return newest_within(_rows(connection, tail, [stream, group_id]), max_bytes)

    def group_seq(self, stream: str, group_id: str) -> int | None:
        """One statement by the unique key, written out: every join reads it, and the ORM's compile of the same
        query cost more than the query (``docs/performance.md``)."""
        connection = connections[self._read_alias()]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT seq FROM {connection.ops.quote_name(_GROUPS)} WHERE stream = %s AND group_id = %s",
                           [stream, group_id])
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def list_groups(self, stream: str) -> list[str]:
        qs = StreamItem.objects.using(self._read_alias()).filter(stream=stream)
        return list(qs.order_by("group_id").values_list("group_id", flat=True).distinct())

    def group_sizes(self, stream: str) -> dict[str, int]:
        rows = StreamItem.objects.using(self._read_alias()).filter(stream=stream).order_by().values("group_id")
        return dict(sorted(rows.annotate(n=Count("id")).values_list("group_id", "n")))

    # --- writes ------------------------------------------------------------------------------------------

    def set(self, stream: str, group_id: str, id: str, data: dict[str, Any], encoded: str) -> StoredItem:
        alias = self.db_alias()
        connection = connections[alias]
        if not _fast(connection):
            return self.update(stream, group_id, id, lambda current: data)
        q, greatest = connection.ops.quote_name, _greatest(connection)
        now = timezone.now()
        dt = connection.ops.adapt_datetimefield_value(now)
        json_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
        upsert = (
            f"INSERT INTO {q(_ITEMS)} (stream, group_id, item_id, data, version, timestamp, created_at, updated_at) "
            f"VALUES (%s, %s, %s, {json_param}, 1, {greatest}(%s, {{floor}} + 1), %s, %s) "
            f"ON CONFLICT (stream, group_id, item_id) DO UPDATE SET "
            f"data = excluded.data, version = {q(_ITEMS)}.version + 1, "
            f"timestamp = {greatest}(excluded.timestamp, {q(_ITEMS)}.timestamp + 1), updated_at = excluded.updated_at "
            f"RETURNING version, timestamp"
        )
        params: list[Any] = [stream, group_id, id, encoded, now_ms(), dt, dt]
        if connection.vendor == "postgresql":  # one statement: the group bump as a CTE, taken first
            sql = (f"WITH g AS (INSERT INTO {q(_GROUPS)} (stream, group_id, seq, floor) VALUES (%s, %s, 1, 0) "
                   f"ON CONFLICT (stream, group_id) DO UPDATE SET seq = {q(_GROUPS)}.seq + 1 RETURNING seq, floor) "
                   + upsert.format(floor="(SELECT floor FROM g)") + ", (SELECT seq FROM g)")
            with connection.cursor() as cursor:
                cursor.execute(sql, [stream, group_id, *params])
                version, timestamp, seq = cursor.fetchone()
            return StoredItem(data, timestamp, created=version == 1, seq=seq)
        # No savepoint of its own inside a write batch (as Django's save_base): a failure fails the batch's
        # transaction, which then runs each write alone. Two statements fewer per write on SQLite.
        with transaction.atomic(using=alias, savepoint=False):
            seq, floor = StreamGroup.objects.bump(alias, stream, group_id)
            with connection.cursor() as cursor:
                cursor.execute(upsert.format(floor=int(floor)), params)
                version, timestamp = cursor.fetchone()
        return StoredItem(data, timestamp, created=version == 1, seq=seq)

    def delete(self, stream: str, group_id: str, id: str, *, unwritten_since: datetime | None = None,
               created_by: datetime | None = None) -> StoredItem | None:
        """Delete the item; with ``unwritten_since``, only if it was not written since then; with ``created_by``,
        only if it was created by then (not deleted and created again since). Decided by the delete statement
        itself (retention: an item rewritten or created again meanwhile stays)."""
        alias = self.db_alias()
        connection = connections[alias]
        try:
            with transaction.atomic(using=alias):
                seq, _floor = StreamGroup.objects.bump(alias, stream, group_id)
                found = self._remove(connection, stream, group_id, id, unwritten_since, created_by)
                if found is None:
                    raise _Nothing  # nothing deleted: undo the bump
                data, previous = found
                timestamp = next_timestamp(previous)
                with connection.cursor() as cursor:  # the floor rises to the delete's timestamp, never falls
                    cursor.execute(f"UPDATE {connection.ops.quote_name(_GROUPS)} SET floor = %s "
                                   "WHERE stream = %s AND group_id = %s AND floor < %s",
                                   [timestamp, stream, group_id, timestamp])
        except _Nothing:
            return None
        return StoredItem(data, timestamp, seq=seq)

    def set_many(self, stream: str, group_id: str, items: list[tuple[str, dict[str, Any], str]]) -> list[StoredItem]:
        """One group bump for all of them and one multi-row upsert per ``_BATCH`` items; each gets its own
        sequence number, in order, as one-by-one ``set`` calls would."""
        alias = self.db_alias()
        connection = connections[alias]
        if len(items) < 2 or not _fast(connection):
            return super().set_many(stream, group_id, items)
        q, greatest = connection.ops.quote_name, _greatest(connection)
        now = timezone.now()
        dt = connection.ops.adapt_datetimefield_value(now)
        json_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
        found: dict[str, tuple[int, int]] = {}
        with transaction.atomic(using=alias):
            seq, floor = StreamGroup.objects.bump(alias, stream, group_id, by=len(items))
            for start in range(0, len(items), _BATCH):
                chunk = items[start:start + _BATCH]
                row = f"(%s, %s, %s, {json_param}, 1, {greatest}(%s, {int(floor)} + 1), %s, %s)"
                params: list[Any] = []
                for id, _data, encoded in chunk:
                    params += [stream, group_id, id, encoded, now_ms(), dt, dt]
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"INSERT INTO {q(_ITEMS)} (stream, group_id, item_id, data, version, timestamp, created_at, "
                        f"updated_at) VALUES {', '.join([row] * len(chunk))} ON CONFLICT (stream, group_id, item_id) "
                        f"DO UPDATE SET data = excluded.data, version = {q(_ITEMS)}.version + 1, timestamp = "
                        f"{greatest}(excluded.timestamp, {q(_ITEMS)}.timestamp + 1), updated_at = excluded.updated_at "
                        f"RETURNING item_id, version, timestamp", params)
                    found.update((item_id, (version, ts)) for item_id, version, ts in cursor.fetchall())
        first = seq - len(items) + 1
        return [StoredItem(data, found[id][1], created=found[id][0] == 1, seq=first + i)
                for i, (id, data, _encoded) in enumerate(items)]

    def delete_many(self, stream: str, group_id: str, ids: list[str]) -> list[tuple[str, StoredItem]]:
        """The group row locked first (as every write does), one ``DELETE ... RETURNING`` per ``_BATCH`` ids, then
        one bump of the group by what was deleted: each deleted item its own sequence number, in order."""
        alias = self.db_alias()
        connection = connections[alias]
        if not ids or not _fast(connection):
            return super().delete_many(stream, group_id, ids)
        q, greatest = connection.ops.quote_name, _greatest(connection)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        deleted: dict[str, tuple[dict[str, Any], int]] = {}
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(f"SELECT seq FROM {q(_GROUPS)} WHERE stream = %s AND group_id = %s{lock}",
                           [stream, group_id])
            if cursor.fetchone() is None:
                return []  # a group never written has no items
            for start in range(0, len(ids), _BATCH):
                chunk = ids[start:start + _BATCH]
                cursor.execute(f"DELETE FROM {q(_ITEMS)} WHERE stream = %s AND group_id = %s AND item_id IN "
                               f"({', '.join(['%s'] * len(chunk))}) RETURNING item_id, data, timestamp",
                               [stream, group_id, *chunk])
                for item_id, data, previous in cursor.fetchall():
                    deleted[item_id] = (_data(data, connection), int(previous))
            if not deleted:
                return []
            stamps = {id: next_timestamp(previous) for id, (_, previous) in deleted.items()}
            cursor.execute(f"UPDATE {q(_GROUPS)} SET seq = seq + %s, floor = {greatest}(floor, %s) "
                           f"WHERE stream = %s AND group_id = %s RETURNING seq",
                           [len(deleted), max(stamps.values()), stream, group_id])
            (seq,) = cursor.fetchone()
        gone = [id for id in ids if id in deleted]
        first = int(seq) - len(gone) + 1
        return [(id, StoredItem(deleted[id][0], stamps[id], seq=first + i)) for i, id in enumerate(gone)]

    @staticmethod
    def _remove(connection: Any, stream: str, group_id: str, id: str,
                unwritten_since: datetime | None = None, created_by: datetime | None = None
                ) -> tuple[dict[str, Any], int] | None:
        if _fast(connection):
            condition, params = "", [stream, group_id, id]
            if unwritten_since is not None:
                condition += " AND updated_at < %s"
                params.append(connection.ops.adapt_datetimefield_value(unwritten_since))
            if created_by is not None:
                condition += " AND created_at <= %s"
                params.append(connection.ops.adapt_datetimefield_value(created_by))
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(_ITEMS)} WHERE stream = %s AND "
                               f"group_id = %s AND item_id = %s{condition} RETURNING data, timestamp", params)
                row = cursor.fetchone()
            if row is None:
                return None
            return _data(row[0], connection), int(row[1])
        items = StreamItem.objects.using(connection.alias)
        if unwritten_since is not None:
            items = items.filter(updated_at__lt=unwritten_since)
        if created_by is not None:
            items = items.filter(created_at__lte=created_by)
        found = (items.select_for_update().filter(stream=stream, group_id=group_id, item_id=id)
                 .values_list("pk", "data", "timestamp").first())
        if found is None:
            return None
        with connection.cursor() as cursor:  # no signals: the stream API publishes the delete itself
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(_ITEMS)} WHERE id = %s", [found[0]])
        return found[1], found[2]

    def update(
        self, stream: str, group_id: str, id: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> StoredItem:
        alias = self.db_alias()
        items = StreamItem.objects.using(alias)
        while True:
            try:
                with transaction.atomic(using=alias):
                    seq, floor = StreamGroup.objects.bump(alias, stream, group_id)
                    key = items.select_for_update().filter(stream=stream, group_id=group_id, item_id=id)
                    row = key.values_list("data", "timestamp").first()
                    data = change(row[0] if row else None)
                    now = timezone.now()
                    ts = next_timestamp(max(floor, row[1] if row else 0))
                    if row is None:  # a plain INSERT (no signals); a concurrent create makes the loop retry
                        items.bulk_create([StreamItem(stream=stream, group_id=group_id, item_id=id, data=data,
                                                      timestamp=ts, created_at=now, updated_at=now)])
                        return StoredItem(data, ts, created=True, seq=seq)
                    key.update(data=data, timestamp=ts, version=F("version") + 1, updated_at=now)
                    return StoredItem(data, ts, seq=seq, previous=row[0])
            except IntegrityError:
                continue

    def clear(self, stream: str, group_id: str) -> list[tuple[str, StoredItem]]:
        """Delete every item of the group, each as its own write (its own sequence number and timestamp)."""
        ids = list(StreamItem.objects.using(self.db_alias()).filter(stream=stream, group_id=group_id)
                   .order_by("created_at", "id").values_list("item_id", flat=True))
        removed = []
        with transaction.atomic(using=self.db_alias()):
            for item_id in ids:
                stored = self.delete(stream, group_id, item_id)
                if stored is not None:
                    removed.append((item_id, stored))
        return removed


def group_seqs(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The stored sequence numbers of ``keys`` ((stream, group id) pairs); groups never written are absent."""
    by_stream: dict[str, list[str]] = {}
    for stream, group_id in keys:
        by_stream.setdefault(stream, []).append(group_id)
    found: dict[tuple[str, str], int] = {}
    groups = StreamGroup.objects.using(router.db_for_read(StreamGroup))
    for stream, group_ids in by_stream.items():
        for start in range(0, len(group_ids), 500):
            rows = groups.filter(stream=stream, group_id__in=group_ids[start:start + 500])
            found.update(((stream, g), int(seq)) for g, seq in rows.values_list("group_id", "seq"))
    return found
