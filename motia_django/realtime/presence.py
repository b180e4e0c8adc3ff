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
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from motia_django.bridge import to_thread
from motia_django.layers import process_origin
from motia_django.models import PresenceLease, StreamItem
from motia_django.realtime.auth import user_key
from motia_django.stream.api import Stream
from motia_django.stream.registry import registry

__all__ = ["arrive", "depart", "expire_leases", "member_of", "new_connection_id", "presence_streams", "renew"]

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


def arrive(stream: Stream, group_id: str, member: str, connection_id: str, subscription: dict[str, Any],
           auth_context: Any) -> None:
    """A socket of ``member`` joined: hold a lease, and create the member's item if it has none."""
    assert stream.presence is not None
    expires = timezone.now() + timedelta(seconds=stream.presence.ttl)
    with transaction.atomic():
        PresenceLease.objects.update_or_create(stream=stream.name, group_id=group_id, member_id=member,
                                               connection_id=connection_id, defaults={"expires_at": expires})
        if stream.get(group_id, member) is None:
            data = _data(stream, member, subscription, auth_context)
            stream.set(group_id, member, data)
            _present[(stream.name, group_id, member)] = data


def depart(stream: Stream, group_id: str, member: str, connection_id: str) -> None:
    """A socket of ``member`` left: drop its lease, and the member's item if no other socket holds one."""
    with transaction.atomic():
        PresenceLease.objects.filter(stream=stream.name, group_id=group_id, member_id=member,
                                     connection_id=connection_id).delete()
        _unless_held(stream, group_id, member)


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
