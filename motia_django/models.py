"""Stream items are rows: one per (stream, group id, item id), holding the item's JSON data.

``timestamp`` is the item's protocol timestamp (epoch milliseconds) and strictly increases on every write to the
item, so clients never drop a second write made in the same millisecond (docs/protocol.md, "Timestamps").
``version`` counts writes; it is 1 right after a create, which is how one upsert statement tells create from
update. ORM saves are validated and stamped by receivers that ``AppConfig.ready()`` connects
(``motia_django.stream.receivers``), so this module needs nothing above it.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connections, models, router, transaction
from django.utils.translation import gettext_lazy as _

from motia_django.encoding import StoredJSONDecoder
from motia_django.stream.changes import item_change, publish
from motia_django.stream.items import MAX_KEY_LENGTH, MAX_STREAM_NAME_LENGTH, make_item, next_timestamp

__all__ = ["CronSchedule", "Event", "PresenceLease", "StateEntry", "StreamGroup", "StreamItem", "StreamItemQuerySet"]

class StreamItemQuerySet(models.QuerySet["StreamItem"]):
    def broadcast_changes(self, *, event: str = "update") -> int:
        """Broadcast every item of this queryset as ``event`` after the current transaction commits.

        ``QuerySet.update()`` and ``bulk_create()`` fire no signals, so changes made with them are not seen by
        subscribers; call this on the same queryset afterwards. Each item gets a fresh, strictly greater
        timestamp (saved) so clients accept the message.
        """
        if event not in ("create", "update"):
            raise ValueError("event must be 'create' or 'update'")
        alias = self.db
        count = 0
        with transaction.atomic(using=alias):
            for row in self.select_for_update().order_by("pk"):
                seq, floor = StreamGroup.objects.bump(alias, row.stream, row.group_id)
                ts = next_timestamp(max(row.timestamp, floor))
                type(row).objects.using(alias).filter(pk=row.pk).update(timestamp=ts)
                publish(item_change(event, row.stream, row.group_id, row.item_id, row.as_item(), ts, seq),
                        using=alias)
                count += 1
        return count


class StreamItem(models.Model):
    stream = models.CharField(_("stream"), max_length=MAX_STREAM_NAME_LENGTH)
    group_id = models.CharField(_("group id"), max_length=MAX_KEY_LENGTH)
    item_id = models.CharField(_("item id"), max_length=MAX_KEY_LENGTH)
    data = models.JSONField(_("data"), default=dict, decoder=StoredJSONDecoder)
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

    def save(self, *args: Any, **kwargs: Any) -> None:
        """ORM saves (admin, shell, user code) keep the stream's rules: the ``pre_save`` receiver validates the
        data and stamps the next timestamp under a row lock, inside this transaction; the ``post_save``
        receiver broadcasts the change after commit (``motia_django.stream.receivers``)."""
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "timestamp", "version", "updated_at"}
            super().save(*args, **kwargs)

    def as_item(self) -> dict[str, Any]:
        """The item as clients see it: the stored data with ``id`` merged in."""
        return make_item(self.item_id, self.data if isinstance(self.data, dict) else {})


class StreamGroupManager(models.Manager["StreamGroup"]):
    def bump(self, alias: str, stream: str, group_id: str, floor: int = 0, *, advance: bool = False,
             by: int = 1) -> tuple[int, int]:
        """One more write to the group (its row locked until commit): returns ``(seq, floor)``; ``floor``
        raises the group's timestamp floor (a delete's timestamp). With ``advance``, the floor moves to
        ``max(floor, previous floor + 1)``: the group itself hands out strictly increasing timestamps (streams
        whose rows keep none, such as model-backed ones). ``by`` writes at once (a batch): ``seq`` is then the
        last one's. One statement where the database has upsert+RETURNING."""
        connection = connections[alias]
        if connection.vendor in ("postgresql", "sqlite") and connection.features.can_return_columns_from_insert:
            table = connection.ops.quote_name(self.model._meta.db_table)
            greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
            previous = f"{table}.floor + 1" if advance else f"{table}.floor"
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (stream, group_id, seq, floor) VALUES (%s, %s, %s, %s) "
                    f"ON CONFLICT (stream, group_id) DO UPDATE SET seq = {table}.seq + excluded.seq, "
                    f"floor = {greatest}({previous}, excluded.floor) RETURNING seq, floor",
                    [stream, group_id, by, floor])
                seq, new_floor = cursor.fetchone()
            return int(seq), int(new_floor)
        groups = self.using(alias)
        while True:
            with transaction.atomic(using=alias):
                row = groups.select_for_update().filter(stream=stream, group_id=group_id).first()
                if row is not None:
                    row.seq, row.floor = row.seq + by, max(row.floor + advance, floor)
                    row.save(update_fields=["seq", "floor"])
                    return row.seq, row.floor
                try:
                    with transaction.atomic(using=alias):
                        groups.create(stream=stream, group_id=group_id, seq=by, floor=floor)
                    return by, floor
                except IntegrityError:
                    continue  # created concurrently: bump that row


class StreamGroup(models.Model):
    """One (stream, group): the sequence number of its last change, and the timestamp floor its deletes left.

    ``seq`` grows by one with every committed write to the group, in commit order, so a server process that
    sees seq 12 after 10 knows it missed a change and resyncs its sockets (docs/protocol.md, "Delivery").
    ``floor`` is the newest delete's timestamp: an item re-created in the same millisecond still gets a greater
    one, so item subscribers do not drop it (a tombstone for the whole group, one row however many deletes).
    """

    stream = models.CharField(_("stream"), max_length=MAX_STREAM_NAME_LENGTH)
    group_id = models.CharField(_("group id"), max_length=MAX_KEY_LENGTH)
    seq = models.PositiveBigIntegerField(_("sequence"), default=0)
    floor = models.BigIntegerField(_("timestamp floor (ms)"), default=0)

    objects = StreamGroupManager()

    class Meta:
        verbose_name = _("stream group")
        verbose_name_plural = _("stream groups")
        constraints = [models.UniqueConstraint(fields=["stream", "group_id"], name="motia_streamgroup_key")]

    def __str__(self) -> str:
        return f"{self.stream}/{self.group_id} #{self.seq}"


class PresenceLease(models.Model):
    """One socket's presence in a group of a presence stream, alive until ``expires_at`` unless renewed.

    The presence item (one per member) exists while its member holds a lease; a process that dies stops
    renewing, and any surviving process removes the expired leases and the items they held up.
    """

    stream = models.CharField(_("stream"), max_length=MAX_STREAM_NAME_LENGTH)
    group_id = models.CharField(_("group id"), max_length=MAX_KEY_LENGTH)
    member_id = models.CharField(_("member id"), max_length=MAX_KEY_LENGTH)
    connection_id = models.CharField(_("connection id"), max_length=64)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("presence lease")
        verbose_name_plural = _("presence leases")
        constraints = [models.UniqueConstraint(fields=["stream", "group_id", "member_id", "connection_id"],
                                               name="motia_presencelease_key")]
        indexes = [models.Index(fields=["stream", "group_id", "member_id"], name="motia_presence_member")]

    def __str__(self) -> str:
        return f"{self.stream}/{self.group_id}/{self.member_id} ({self.connection_id})"


# --- events and state (steps) -------------------------------------------------------------------------------


class Event(models.Model):
    """One delivery of an emitted event to one subscribing event step: the durable unit of work.

    Stored inside the emitting transaction, then claimed by a worker (``status=running`` with a lease), and
    finished as ``done``, ``failed`` (its input did not match the step's ``input`` schema; never retried) or,
    after ``EVENT_MAX_ATTEMPTS`` failures, ``dead``. A running event whose lease expired (its worker died) is
    claimed again, so delivery is at least once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        DEAD = "dead", _("dead")

    topic = models.CharField(_("topic"), max_length=255)
    step = models.CharField(_("step"), max_length=255, help_text=_("The subscribing event step."))
    data = models.JSONField(_("data"), default=dict, blank=True, decoder=StoredJSONDecoder)
    trace_id = models.CharField(_("trace id"), max_length=64, db_index=True)
    emitted_by = models.CharField(_("emitted by"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    available_at = models.DateTimeField(_("available at"))
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    locked_by = models.CharField(_("locked by"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["status", "available_at"], name="motia_event_due")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.topic} -> {self.step} ({self.status})"


class StateEntry(models.Model):
    """One value of the flow state (``context.state``): JSON under (group, key), as Motia's state store."""

    group = models.CharField(_("group"), max_length=MAX_KEY_LENGTH)
    key = models.CharField(_("key"), max_length=MAX_KEY_LENGTH)
    value = models.JSONField(_("value"), null=True, blank=True, decoder=StoredJSONDecoder)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("state entry")
        verbose_name_plural = _("state entries")
        constraints = [models.UniqueConstraint(fields=["group", "key"], name="motia_stateentry_key")]
        ordering = ["group", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.group}/{self.key}"


class CronSchedule(models.Model):
    """The next tick of one cron step, shared by every runner (``motia_django.steps.cron``).

    A runner owns a tick when its conditional ``UPDATE`` moves ``next_run_at`` from the value it read to the first
    tick after now; it then stores the run as an ``Event`` in the same transaction. Moving past *now* (not to the
    following tick) is what makes ticks missed while nothing ran one run.
    """

    step = models.CharField(_("step"), max_length=255, unique=True, help_text=_("The cron step."))
    cron = models.CharField(_("cron expression"), max_length=255)
    next_run_at = models.DateTimeField(_("next run at"))
    last_run_at = models.DateTimeField(_("last run at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("cron schedule")
        verbose_name_plural = _("cron schedules")
        ordering = ["step"]

    def __str__(self) -> str:
        return f"{self.step} ({self.cron})"
