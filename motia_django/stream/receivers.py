"""The ORM path: ``StreamItem.save()`` and ``delete()`` (the admin, the shell, user code) keep the stream's rules.

``connect()`` (from ``AppConfig.ready()``, as Django's contrib apps wire their signals) hooks three receivers:

- ``pre_save``: validate the data against the stream's schema and stamp the next timestamp and version, with
  the row locked, inside the transaction ``StreamItem.save()`` opens;
- ``post_save`` / ``post_delete``: publish the create, update or delete after commit.

``QuerySet.update()`` and ``bulk_create()`` fire no signals; ``StreamItemQuerySet.broadcast_changes()`` is
their documented escape hatch.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.utils import timezone

from motia_django.models import StreamGroup, StreamItem
from motia_django.stream.changes import item_change, publish
from motia_django.stream.items import next_timestamp, validate_key
from motia_django.stream.registry import registry

__all__ = ["connect", "disconnect"]

#: Where ``stamp`` leaves the group's sequence number for ``saved`` on the instance being saved.
_SEQ = "_motia_seq"

_UIDS = ("motia_streamitem_stamp", "motia_streamitem_saved", "motia_streamitem_deleted")


def stamp(sender: type[StreamItem], instance: StreamItem, raw: bool = False, using: str | None = None,
          **kwargs: Any) -> None:
    """Validate and stamp an ORM save like a stream write (``raw``: fixtures loaded as they are)."""
    if raw:
        return
    validate_key("group id", instance.group_id)
    validate_key("item id", instance.item_id)
    instance.data = registry.get(instance.stream).validate(instance.data)
    alias = using or "default"
    seq, floor = StreamGroup.objects.bump(alias, instance.stream, instance.group_id)  # group row first
    now = timezone.now()
    previous = None
    if instance.pk is not None:
        previous = (
            StreamItem.objects.using(alias).select_for_update().filter(pk=instance.pk)
            .values_list("timestamp", "version").first()
        )
    if previous is None:
        instance.timestamp = next_timestamp(floor)
        instance.version = 1
        instance.created_at = instance.created_at or now
    else:
        instance.timestamp = next_timestamp(max(previous[0], floor))
        instance.version = previous[1] + 1
    instance.updated_at = now
    instance.__dict__[_SEQ] = seq  # for ``saved``, after the row is written


def saved(sender: type[StreamItem], instance: StreamItem, created: bool, using: str, **kwargs: Any) -> None:
    kind = "create" if created else "update"
    publish(item_change(kind, instance.stream, instance.group_id, instance.item_id, instance.as_item(),
                        instance.timestamp, instance.__dict__.pop(_SEQ, None)), using=using)


def deleted(sender: type[StreamItem], instance: StreamItem, using: str, **kwargs: Any) -> None:
    """Inside the delete's transaction: the group's next number, and a floor for re-creates."""
    timestamp = next_timestamp(instance.timestamp)
    seq, floor = StreamGroup.objects.bump(using, instance.stream, instance.group_id, timestamp)
    publish(item_change("delete", instance.stream, instance.group_id, instance.item_id, instance.as_item(),
                        max(timestamp, floor), seq), using=using)


def connect() -> None:
    pre_save.connect(stamp, sender=StreamItem, dispatch_uid=_UIDS[0])
    post_save.connect(saved, sender=StreamItem, dispatch_uid=_UIDS[1])
    post_delete.connect(deleted, sender=StreamItem, dispatch_uid=_UIDS[2])


def disconnect() -> None:
    for signal, uid in zip((pre_save, post_save, post_delete), _UIDS, strict=True):
        signal.disconnect(sender=StreamItem, dispatch_uid=uid)
