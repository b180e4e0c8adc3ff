"""Stream items are rows: one per (stream, group id, item id), holding the item's JSON data.

``timestamp`` is the item's protocol timestamp (epoch milliseconds) and strictly increases on every write to the
item, so clients never drop a second write made in the same millisecond (protocol.md rule 2). ``version``
counts writes; it is 1 right after a create, which is how a single upsert statement tells create from update.
"""

from __future__ import annotations

from typing import Any

from django.db import models, router, transaction
from django.utils.translation import gettext_lazy as _

#: Longest group id or item id accepted (the columns' size).
MAX_KEY_LENGTH = 255
MAX_STREAM_NAME_LENGTH = 128


class StreamItemQuerySet(models.QuerySet["StreamItem"]):
    def broadcast_changes(self, *, event: str = "update") -> int:
        """Broadcast every item of this queryset as ``event`` after the current transaction commits.

        ``QuerySet.update()`` and ``bulk_create()`` fire no signals, so changes made with them are not seen by
        subscribers; call this on the same queryset afterwards. Each item gets a fresh, strictly greater
        timestamp (saved) so clients accept the message.
        """
        from motia_django.changes import broadcast_rows

        return broadcast_rows(self, event=event)


class StreamItem(models.Model):
    stream = models.CharField(_("stream"), max_length=MAX_STREAM_NAME_LENGTH)
    group_id = models.CharField(_("group id"), max_length=MAX_KEY_LENGTH)
    item_id = models.CharField(_("item id"), max_length=MAX_KEY_LENGTH)
    data = models.JSONField(_("data"), default=dict)
    version = models.PositiveBigIntegerField(_("version"), default=1, editable=False)
    timestamp = models.BigIntegerField(_("timestamp (ms)"), default=0, editable=False)
    created_at = models.DateTimeField(_("created"), editable=False)
    updated_at = models.DateTimeField(_("updated"), editable=False)

    objects = StreamItemQuerySet.as_manager()

    class Meta:
        verbose_name = _("stream item")
        verbose_name_plural = _("stream items")
        constraints = [
            models.UniqueConstraint(fields=["stream", "group_id", "item_id"], name="motia_streamitem_key"),
        ]
        indexes = [
            models.Index(fields=["stream", "group_id", "created_at", "id"], name="motia_streamitem_group"),
        ]
        ordering = ["stream", "group_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.stream}/{self.group_id}/{self.item_id}"

    def as_item(self) -> dict[str, Any]:
        """The item as clients see it: the stored data with ``id`` merged in."""
        return {**(self.data if isinstance(self.data, dict) else {"value": self.data}), "id": self.item_id}

    def save(self, *args: Any, **kwargs: Any) -> None:
        """ORM saves (admin, shell, user code) keep the stream's rules: validated data, strictly increasing
        timestamp. The change is broadcast after commit by the ``post_save`` receiver."""
        from motia_django.changes import prepare_model_save

        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            prepare_model_save(self, using)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "timestamp", "version", "updated_at"}
            super().save(*args, **kwargs)
