"""Presence streams: "who is here", as ordinary stream items that Motia's clients show unchanged.

A stream declared with ``"presence": {"tracks": "chatMessage", "ttl": 30}`` holds one item per (group, present
member): created when a socket of that member joins that group of the tracked stream, deleted when the
member's last socket there leaves or disconnects. The item id is the member: the authenticated user's id when
there is one, otherwise the connection's; its data comes from the ``data`` hook (default: the member id and
the time of arrival). Subscribers of the presence stream's group see arrivals and departures as create and
delete frames.

Each socket's presence is a ``PresenceLease`` row that its process renews every ``ttl / 3`` seconds. When a
server dies its leases stop being renewed; any surviving process removes them after ``ttl`` (``expire_leases``)
and deletes the items no lease holds up any more. The renewal also re-creates an item that a racing departure removed
while a lease still needs it, so presence heals within ``ttl / 3``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from motia_django.bridge import sync_caller_above, to_thread
from motia_django.layers import process_origin
from motia_django.models import PresenceLease, StreamItem
from motia_django.realtime.auth import user_key
from motia_django.stream.api import Stream
from motia_django.stream.registry import registry

__all__ = [
    "Arrival", "Batcher", "Departure", "PresenceChange", "apply", "arrive", "depart", "expire_leases", "member_of",
    "new_connection_id", "presence_streams", "renew", "submit",
]

logger = logging.getLogger("motia_django.presence")

_loop_task: asyncio.Task[None] | None = None

#: The item data of the members this process made present, so that ``renew`` re-creates an item as it was
#: (the ``data`` hook needs the join's subscription and auth context, which only the join has).
_present: dict[tuple[str, str, str], dict[str, Any]] = {}


def new_connection_id() -> str:
    """A socket's id in leases: this process's origin first, so a process renews its own with one query."""
    return f"{process_origin()}:{uuid.uuid4().hex[:16]}"


def member_of(auth_context: Any, connection_id: str) -> str:
    """The member a socket is: its user's id when authenticated, else the connection."""
    return user_key(auth_context) or connection_id


def presence_streams(tracked: str) -> list[Stream]:
    """The presence streams that track ``tracked``."""
    return [s for s in registry if s.presence is not None and s.presence.tracks == tracked]


def _data(stream: Stream, member: str, subscription: dict[str, Any], auth_context: Any) -> dict[str, Any]:
    assert stream.presence is not None
    if stream.presence.data is not None:
        return dict(stream.presence.data(subscription, auth_context))
    return {"userId": member, "joinedAt": timezone.now().isoformat()}


@dataclass(frozen=True)
class Arrival:
    """A socket of ``member`` joined ``group_id``: it holds a lease, and the member has an item."""

    stream: Stream
    group_id: str
    member: str
    connection_id: str
    subscription: dict[str, Any] = field(default_factory=dict, compare=False)
    auth_context: Any = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.stream.name, self.group_id, self.member)


@dataclass(frozen=True)
class Departure:
    """A socket of ``member`` left ``group_id``: its lease goes, and the item if no other lease holds it."""

    stream: Stream
    group_id: str
    member: str
    connection_id: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.stream.name, self.group_id, self.member)


PresenceChange = Arrival | Departure


def arrive(stream: Stream, group_id: str, member: str, connection_id: str, subscription: dict[str, Any],
           auth_context: Any) -> None:
    """A socket of ``member`` joined: hold a lease, and create the member's item if it has none."""
    apply([Arrival(stream, group_id, member, connection_id, subscription, auth_context)])


def depart(stream: Stream, group_id: str, member: str, connection_id: str) -> None:
    """A socket of ``member`` left: drop its lease, and the member's item if no other socket holds one."""
    apply([Departure(stream, group_id, member, connection_id)])


def apply(changes: list[PresenceChange]) -> None:
    """Arrivals and departures in one transaction, in statements that do not grow with them: an upsert of the
    leases, a delete per group, a query for the leases left and one for the items; then per group the items of
    those who left go and those who came get one (``Stream._remove_many``, ``_store_many``), each change
    published on its own. The end state is that of applying them one by one (leaving and coming back within a
    batch keeps the item)."""
    now = timezone.now()
    last = {(c.key, c.connection_id): c for c in changes}  # a socket's last change wins
    arrivals = {k: c for k, c in last.items() if isinstance(c, Arrival)}
    departures = [c for c in last.values() if isinstance(c, Departure)]
    keys = {c.key: c.stream for c in changes}
    with transaction.atomic():
        if departures:
            _delete_leases(departures)
        if arrivals:
            _upsert_leases(list(arrivals.values()), now)
        held = _held(keys)
        present = _with_items(keys)
        first: dict[tuple[str, str, str], Arrival] = {}
        for change in arrivals.values():
            first.setdefault(change.key, change)
        creates: dict[tuple[Stream, str], list[tuple[str, dict[str, Any], str]]] = {}
        deletes: dict[tuple[Stream, str], list[str]] = {}
        for key, stream in keys.items():
            if key in held and key not in present:
                arrival = first.get(key)
                data = (_data(stream, key[2], arrival.subscription, arrival.auth_context) if arrival is not None
                        else _present.get(key) or _data(stream, key[2], {}, None))
                checked, encoded = stream._checked(key[1], key[2], data)
                creates.setdefault((stream, key[1]), []).append((key[2], checked, encoded))
                _present[key] = data
            elif key not in held and key in present:
                _present.pop(key, None)
                deletes.setdefault((stream, key[1]), []).append(key[2])
            elif key not in held:
                _present.pop(key, None)
        for (stream, group_id), ids in deletes.items():  # per group: a few statements, one change per member
            stream._remove_many(group_id, ids)
        for (stream, group_id), items in creates.items():
            stream._store_many(group_id, items)


def _ttl(stream: Stream) -> float:
    assert stream.presence is not None
    return stream.presence.ttl


_CHUNK = 200  # conditions per statement, well under SQLite's expression depth and variable limits
_KEYS_PER_QUERY = 100  # so a superset of groups x members is at most 10,000 rows, whoever is in which room
_LEASE_COLUMNS = ("stream", "group_id", "member_id", "connection_id", "expires_at")


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _quoted(connection: Any, model: Any, *names: str) -> tuple[str, ...]:
    """``model``'s table and the columns of the fields ``names``, quoted for ``connection``."""
    q, fields = connection.ops.quote_name, model._meta
    return (q(fields.db_table), *(q(fields.get_field(name).column) for name in names))


def _delete_leases(departures: list[Departure]) -> None:
    """One ``DELETE`` per group (and chunk): a connection is one member, so its id picks its leases there."""
    by_group: dict[tuple[str, str], list[str]] = {}
    for d in departures:
        by_group.setdefault((d.stream.name, d.group_id), []).append(d.connection_id)
    connection = connections[router.db_for_write(PresenceLease)]
    table, stream_col, group_col, connection_col = _quoted(connection, PresenceLease, "stream", "group_id",
                                                           "connection_id")
    with connection.cursor() as cursor:  # written out, as _among is
        for (name, group_id), connection_ids in by_group.items():
            for chunk in _chunks(connection_ids):
                cursor.execute(f"DELETE FROM {table} WHERE {stream_col} = %s AND {group_col} = %s "
                               f"AND {connection_col} IN ({', '.join(['%s'] * len(chunk))})",
                               [name, group_id, *chunk])


def _upsert_leases(arrivals: list[Arrival], now: datetime) -> None:
    """The arrivals' leases, new or renewed: written out as the lookups are (``bulk_create``'s compile cost more
    than the statement), batched as the ORM batches; through ``bulk_create`` on other databases."""
    connection = connections[router.db_for_write(PresenceLease)]
    if connection.vendor not in ("postgresql", "sqlite"):
        PresenceLease.objects.bulk_create(
            [PresenceLease(stream=c.stream.name, group_id=c.group_id, member_id=c.member,
                           connection_id=c.connection_id, expires_at=now + timedelta(seconds=_ttl(c.stream)))
             for c in arrivals],
            update_conflicts=True, unique_fields=list(_LEASE_COLUMNS[:4]), update_fields=["expires_at"])
        return
    table, stream, group, member, conn, expires = _quoted(connection, PresenceLease, *_LEASE_COLUMNS)
    adapt = connection.ops.adapt_datetimefield_value
    rows = [(c.stream.name, c.group_id, c.member, c.connection_id, adapt(now + timedelta(seconds=_ttl(c.stream))))
            for c in arrivals]
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, max(1, connection.ops.bulk_batch_size(_LEASE_COLUMNS, rows))):  # as the ORM
            cursor.execute(
                f"INSERT INTO {table} ({stream}, {group}, {member}, {conn}, {expires}) "
                f"VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(chunk))} "
                f"ON CONFLICT ({stream}, {group}, {member}, {conn}) DO UPDATE SET {expires} = excluded.{expires}",
                [value for row in chunk for value in row])


def _held(keys: dict[tuple[str, str, str], Stream]) -> set[tuple[str, str, str]]:
    """Which of ``keys`` a lease still holds."""
    return _among(keys, PresenceLease, "member_id")


def _with_items(keys: dict[tuple[str, str, str], Stream]) -> set[tuple[str, str, str]]:
    """Which of ``keys`` have their member's item: one query on the default storage, else one get each."""
    default = {k: stream for k, stream in keys.items() if stream.backend.kind == "default"}
    return _among(default, StreamItem, "item_id") | {
        k for k, stream in keys.items() if k not in default and stream.get(k[1], k[2]) is not None}


def _among(keys: dict[tuple[str, str, str], Stream], model: Any, member: str) -> set[tuple[str, str, str]]:
    """Which of ``keys`` (stream, group, member) have a row of ``model``: per stream, ``IN`` lists of the groups
    and members of up to ``_KEYS_PER_QUERY`` keys (a superset, kept to the keys asked for): the joins of many
    rooms that arrive together cost one query. Written out: the ORM's compile cost several times the query."""
    by_stream: dict[str, list[tuple[str, str, str]]] = {}
    for key in keys:
        by_stream.setdefault(key[0], []).append(key)
    found: set[tuple[str, str, str]] = set()
    if not by_stream:
        return found
    connection = connections[router.db_for_read(model)]
    table, stream_col, group_col, member_col = _quoted(connection, model, "stream", "group_id", member)
    with connection.cursor() as cursor:
        for name, wanted in by_stream.items():
            for chunk in _chunks(wanted, _KEYS_PER_QUERY):
                groups = sorted({group_id for _name, group_id, _member in chunk})
                members = sorted({member_id for _name, _group, member_id in chunk})
                cursor.execute(
                    f"SELECT {group_col}, {member_col} FROM {table} WHERE {stream_col} = %s "
                    f"AND {group_col} IN ({', '.join(['%s'] * len(groups))}) "
                    f"AND {member_col} IN ({', '.join(['%s'] * len(members))})", [name, *groups, *members])
                found.update((name, group_id, member_id) for group_id, member_id in cursor.fetchall())
    return found & keys.keys()


class Batcher:
    """Group commit for one loop's arrivals and departures: while a batch is written the next ones wait and go
    together. A join flood costs a few transactions (and thread hops), not one per join, on one database thread
    at a time; a batch that fails is tried change by change, so a bad change fails only its own caller."""

    def __init__(self) -> None:
        self.pending: list[tuple[PresenceChange, asyncio.Future[None]]] = []
        self.flushing: asyncio.Task[None] | None = None
        self.batches = 0  # batches written (for tests)

    async def submit(self, change: PresenceChange) -> None:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((change, future))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.get_running_loop().create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            self.batches += 1
            try:
                await to_thread(apply)([change for change, _ in batch])
            except Exception:
                for change, future in batch:
                    try:
                        await to_thread(apply)([change])
                    except Exception as exc:
                        _settle(future, exc)
                    else:
                        _settle(future, None)
            else:
                for _, future in batch:
                    _settle(future, None)


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Batcher] = weakref.WeakKeyDictionary()


async def submit(change: PresenceChange) -> None:
    """Write ``change`` with the others of this event loop (``Batcher``); returns once it is committed."""
    if sync_caller_above():  # a sync caller above us: its thread and its transaction
        await to_thread(apply)([change])
        return
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = Batcher()
    await batcher.submit(change)


def _unless_held(stream: Stream, group_id: str, member: str) -> bool:
    """Delete the member's item if no lease holds it up any more (in the caller's transaction); True if one was
    deleted."""
    if PresenceLease.objects.filter(stream=stream.name, group_id=group_id, member_id=member).exists():
        return False
    _present.pop((stream.name, group_id, member), None)
    return stream.delete(group_id, member) is not None


def renew() -> None:
    """Extend this process's leases, and re-create an item a live lease needs but lost to a race. A constant
    number of statements however many members: one ``UPDATE`` per presence stream, one query for the items that
    are missing (normally none)."""
    now = timezone.now()
    trackers = [s for s in registry if s.presence is not None]
    mine = PresenceLease.objects.filter(connection_id__startswith=f"{process_origin()}:")
    for stream in trackers:
        assert stream.presence is not None
        mine.filter(stream=stream.name).update(expires_at=now + timedelta(seconds=stream.presence.ttl))
    by_name = {s.name: s for s in trackers}
    for name, group_id, member in _lost(mine, by_name):
        _recreate(by_name[name], group_id, member)


def _lost(mine: Any, streams: dict[str, Stream]) -> set[tuple[str, str, str]]:
    """(stream, group, member) of this process's leases whose member has no item."""
    default = [name for name, s in streams.items() if s.backend.kind == "default"]
    items = StreamItem.objects.filter(stream=OuterRef("stream"), group_id=OuterRef("group_id"),
                                      item_id=OuterRef("member_id"))
    lost = set(mine.filter(stream__in=default).exclude(Exists(items))
               .values_list("stream", "group_id", "member_id"))
    for name in set(streams) - set(default):  # another storage: asked member by member
        stream = streams[name]
        lost |= {(name, g, m) for g, m in set(mine.filter(stream=name).values_list("group_id", "member_id"))
                 if stream.get(g, m) is None}
    return lost


def _recreate(stream: Stream, group_id: str, member: str) -> None:
    """Re-create a member's lost item, only while a lease still holds it: the lease rows are locked first, so a
    departure that removes the last lease either went first (nothing to re-create) or waits, and then removes
    the item again."""
    with transaction.atomic():
        leases = PresenceLease.objects.select_for_update().filter(stream=stream.name, group_id=group_id,
                                                                  member_id=member)
        if not list(leases.values_list("pk", flat=True)[:1]) or stream.get(group_id, member) is not None:
            return
        data = _present.get((stream.name, group_id, member)) or _data(stream, member, {}, None)
        stream.set(group_id, member, data)


def expire_leases() -> int:
    """Remove leases whose process stopped renewing them, and the items no lease holds up any more."""
    removed = 0
    expired = PresenceLease.objects.filter(expires_at__lt=timezone.now())
    for stream_name, group_id, member in set(expired.values_list("stream", "group_id", "member_id")):
        with transaction.atomic():
            PresenceLease.objects.filter(stream=stream_name, group_id=group_id, member_id=member,
                                         expires_at__lt=timezone.now()).delete()
            if stream_name in registry and _unless_held(registry.get(stream_name), group_id, member):
                removed += 1
    return removed


def ensure_upkeep() -> None:
    """Renew this process's leases and sweep dead ones, on the current loop, while the process lives (every
    server process does, so members of a server that died are removed by the others)."""
    global _loop_task
    loop = asyncio.get_running_loop()
    running = _loop_task is not None and not _loop_task.done() and _loop_task.get_loop() is loop
    if not running and any(s.presence is not None for s in registry):
        _loop_task = loop.create_task(_upkeep())


async def _upkeep() -> None:
    while True:
        ttls = [s.presence.ttl for s in registry if s.presence is not None]
        await asyncio.sleep(max(0.5, min(ttls, default=30.0) / 3))
        try:
            await to_thread(renew)()
            await to_thread(expire_leases)()
        except Exception:
            logger.warning("Presence upkeep failed; retrying", exc_info=True)
