"""Committed changes, handed on after commit: the seam between storage and the broadcaster.

Every write path ends here: the stream API (``Stream.set`` etc.), ORM saves and deletes of ``StreamItem``
(the admin included), and ``StreamItemQuerySet.broadcast_changes()`` for bulk writes. Each builds a ``Change``
and calls ``publish()``, which waits for the surrounding transaction to commit (``transaction.on_commit``) and
then sends the ``stream_changed`` signal. A rolled-back write is never seen. The real-time layer connects the
broadcaster to ``stream_changed``; anything else (audit logs, tests) may connect too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

if TYPE_CHECKING:
    from motia_django.models import StreamItem, StreamItemQuerySet

__all__ = ["Change", "publish", "stream_changed"]

#: Sent after commit with ``change=Change``; the broadcaster listens to it.
stream_changed = Signal()


@dataclass(frozen=True)
class Change:
    """One thing subscribers must hear about: a create, update, delete, or an ephemeral event.

    ``id`` is None for a group-level event. ``event`` is the protocol's event object, e.g.
    ``{"type": "update", "data": item}`` or ``{"type": "event", "event": {"type": "typing", "data": ...}}``.
    """

    stream: str
    group_id: str
    id: str | None
    event: dict[str, Any]
    timestamp: int

    @property
    def type(self) -> str:
        return str(self.event["type"])

    def frame(self) -> dict[str, Any]:
        """The protocol frame every subscriber receives (protocol.md, "Server to client")."""
        frame: dict[str, Any] = {"timestamp": self.timestamp, "streamName": self.stream, "groupId": self.group_id}
        if self.id is not None:
            frame["id"] = self.id
        frame["event"] = self.event
        return frame

    @cached_property
    def text(self) -> str:
        """The frame encoded once, shared by every socket that receives it."""
        return json.dumps(self.frame(), ensure_ascii=False, separators=(",", ":"))


def publish(change: Change, *, using: str | None = None) -> None:
    """Hand ``change`` to subscribers once the current transaction on ``using`` commits (now, if none)."""
    transaction.on_commit(lambda: stream_changed.send(sender=Change, change=change), using=using)


def item_change(kind: str, stream: str, group_id: str, item_id: str, item: dict[str, Any], timestamp: int) -> Change:
    return Change(stream, group_id, item_id, {"type": kind, "data": item}, timestamp)


# --- the ORM path -------------------------------------------------------------------------------------------


def prepare_model_save(instance: StreamItem, using: str | None) -> None:
    """Stamp an ORM save like a stream write: validated data, next timestamp and version, update times.

    Called inside the transaction that saves, with the row locked, so concurrent writers still get strictly
    increasing timestamps.
    """
    from motia_django.models import StreamItem
    from motia_django.storage import now_ms
    from motia_django.stream import validate_key, validate_write

    validate_key("group id", instance.group_id)
    validate_key("item id", instance.item_id)
    instance.data = validate_write(instance.stream, instance.data)
    now = timezone.now()
    previous = None
    if instance.pk is not None:
        previous = (
            StreamItem.objects.using(using).select_for_update().filter(pk=instance.pk)
            .values_list("timestamp", "version").first()
        )
    if previous is None:
        instance.timestamp = now_ms()
        instance.version = 1
        instance.created_at = instance.created_at or now
    else:
        instance.timestamp = max(now_ms(), previous[0] + 1)
        instance.version = previous[1] + 1
    instance.updated_at = now


def model_saved(instance: StreamItem, created: bool, using: str) -> None:
    publish(
        item_change("create" if created else "update", instance.stream, instance.group_id, instance.item_id,
                    instance.as_item(), instance.timestamp),
        using=using,
    )


def model_deleted(instance: StreamItem, using: str) -> None:
    from motia_django.storage import now_ms

    publish(
        item_change("delete", instance.stream, instance.group_id, instance.item_id, instance.as_item(),
                    max(now_ms(), instance.timestamp + 1)),
        using=using,
    )


def broadcast_rows(queryset: StreamItemQuerySet, *, event: str = "update") -> int:
    """Re-stamp and broadcast every row of ``queryset`` (the bulk path; see ``StreamItemQuerySet``)."""
    from motia_django.storage import now_ms

    if event not in ("create", "update"):
        raise ValueError("event must be 'create' or 'update'")
    alias = queryset.db
    count = 0
    with transaction.atomic(using=alias):
        for row in queryset.select_for_update().order_by("pk"):
            ts = max(now_ms(), row.timestamp + 1)
            type(row).objects.using(alias).filter(pk=row.pk).update(timestamp=ts)
            publish(item_change(event, row.stream, row.group_id, row.item_id, row.as_item(), ts), using=alias)
            count += 1
    return count
