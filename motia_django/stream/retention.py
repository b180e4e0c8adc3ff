"""Retention: old items removed by the worker, each removal broadcast as a ``delete``.

A stream's ``ttl`` (seconds since an item's last write) and ``maxItemsPerGroup`` (keep the newest N, by
creation) are enforced by ``expire_items()``, which a serving event runner calls every ``HOUSEKEEPING_SECONDS``
(``motia_django.steps.runner.housekeeping``, in ``motia_worker`` and in the embedded server's runner). Removals
go through the stream API, so subscribers see them like any delete. Each call removes at most ``limit`` items
per stream, so a large backlog is worked off over several calls instead of in one long transaction. Applies to
streams with the default storage.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from motia_django.models import StreamItem
from motia_django.stream.api import Stream
from motia_django.stream.backends.db import DatabaseBackend
from motia_django.stream.registry import registry

__all__ = ["expire_items"]

logger = logging.getLogger("motia_django.retention")


def _expired(stream: Stream, cutoff: datetime, limit: int) -> list[tuple[str, str]]:
    rows = StreamItem.objects.filter(stream=stream.name, updated_at__lt=cutoff).order_by("updated_at", "id")
    return list(rows.values_list("group_id", "item_id")[:limit])


def _excess(stream: Stream, limit: int) -> list[tuple[str, str, datetime]]:
    """(group, item, created_at) of the items past the newest ``maxItemsPerGroup`` of their group."""
    assert stream.max_items is not None
    items = StreamItem.objects.filter(stream=stream.name)
    crowded = items.values("group_id").annotate(n=Count("id")).filter(n__gt=stream.max_items)
    found: list[tuple[str, str, datetime]] = []
    for row in crowded.order_by("group_id")[:limit]:
        newest_first = items.filter(group_id=row["group_id"]).order_by("-created_at", "-id")
        found += [(row["group_id"], item_id, created) for item_id, created in
                  newest_first.values_list("item_id", "created_at")[stream.max_items:stream.max_items + limit]]
        if len(found) >= limit:
            break
    return found[:limit]


def expire_items(limit: int = 1000) -> int:
    """Remove what retention says must go; returns how many items were removed (and broadcast)."""
    removed = 0
    for stream in registry:
        if not isinstance(stream.backend, DatabaseBackend):
            continue
        if stream.ttl is not None:
            cutoff = timezone.now() - timedelta(seconds=stream.ttl)
            # Deleted only if still unwritten since the cutoff when the delete runs: a rewrite meanwhile keeps it.
            removed += sum(stream.expire(group_id, item_id, cutoff) for group_id, item_id in _expired(stream, cutoff,
                                                                                                         limit))
        if stream.max_items is not None:
            # Deleted only if still the item it saw (created by then): one deleted and created again meanwhile is
            # the newest, and stays.
            removed += sum(stream.expire(group_id, item_id, created_by=created)
                           for group_id, item_id, created in _excess(stream, limit))
    if removed:
        logger.info("Retention removed %d item(s)", removed)
    return removed
