"""Model-backed streams: a Django model's rows as a stream's items, kept live for subscribers.

``{"name": "todos", "model": "todo.Todo", "group_by": "list_id", "serializer": "todo.serializers.TodoSerializer"}``:
an item is a row, its id the primary key, its shape the DRF serializer's, its group the ``group_by`` field.

- Every save and delete of the model (the ORM, the admin, DRF views, the stream API) is broadcast after commit
  by the receivers ``connect()`` hooks up: a create, update or delete frame. A row moved to another group
  leaves the old one (delete) and joins the new one (create).
- The broadcast carries the row as it is in the database when the group's sequence number is taken (read
  again under the group's row lock), so two racing saves outside a transaction still end every subscriber on
  the stored state. The group hands out the timestamps (``StreamGroup.objects.bump(advance=True)``): model
  rows keep none of their own.
- ``set``/``update``/``delete`` through the stream API write the row through the serializer; a validation
  error is the serializer's, as a ``StreamValidationError``.
- ``QuerySet.update()`` and ``bulk_create()`` send no signals: ``broadcast_changes(queryset)`` (or
  ``StreamQuerySet`` as the model's manager, for ``qs.broadcast_changes()``) is their escape hatch, as for
  ``StreamItem``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models.signals import post_delete, post_save, pre_save

from motia_django.exceptions import StreamValidationError
from motia_django.models import StreamGroup
from motia_django.stream.backends.base import Backend, StoredItem
from motia_django.stream.changes import item_change, publish
from motia_django.stream.items import make_item, now_ms
from motia_django.stream.schema import Schema

__all__ = ["ModelBackend", "SerializerSchema", "StreamQuerySet", "broadcast_changes", "connect"]

_AUTO_FIELDS = ("AutoField", "BigAutoField", "SmallAutoField")
_JSON_TYPES = {"BooleanField": "boolean", "IntegerField": "integer", "FloatField": "number",
               "DecimalField": "string", "JSONField": "object", "ListField": "array", "DictField": "object"}


class SerializerSchema(Schema):
    """A model stream's schema, described from its serializer (validation is the serializer's, at write)."""

    def __init__(self, serializer: type[Any]) -> None:
        self.serializer = serializer
        fields = serializer().get_fields()
        properties = {name: {"type": _JSON_TYPES.get(type(field).__name__, "string")}
                      for name, field in fields.items()}
        required = [name for name, field in fields.items() if field.required and not field.read_only]
        self.json_schema = {"type": "object", "properties": properties, "required": required}


class ModelBackend(Backend):
    """Reads and writes a model's rows as a stream's items (see the module docstring)."""

    broadcasts = True  # the model's receivers broadcast every write, whoever makes it
    kind = "model"

    def __init__(self, model: type[models.Model], group_by: str, serializer: type[Any]) -> None:
        self.model, self.group_by, self.serializer = model, group_by, serializer

    def db_alias(self) -> str:
        return router.db_for_write(self.model)

    def item_data(self, instance: models.Model) -> dict[str, Any]:
        return dict(self.serializer(instance).data)

    def _rows(self, group_id: str) -> models.QuerySet[Any]:
        return self.model._default_manager.filter(**{self.group_by: group_id})

    def _row(self, group_id: str, id: str) -> models.Model | None:
        try:
            return self._rows(group_id).filter(pk=id).first()
        except (ValueError, TypeError):  # an id the primary key cannot be
            return None

    def _clock(self, stream: str, group_id: str) -> int:
        row = StreamGroup.objects.filter(stream=stream, group_id=group_id).values_list("floor", flat=True).first()
        return int(row or 0) or now_ms()

    def get(self, stream: str, group_id: str, id: str) -> StoredItem | None:
        row = self._row(group_id, id)
        return None if row is None else StoredItem(self.item_data(row), self._clock(stream, group_id))

    def get_group(self, stream: str, group_id: str, limit: int | None = None) -> list[tuple[str, StoredItem]]:
        rows = self._rows(group_id).order_by("pk")
        found = list(rows.order_by("-pk")[:limit])[::-1] if limit is not None else list(rows)
        ts = self._clock(stream, group_id)
        return [(str(row.pk), StoredItem(self.item_data(row), ts)) for row in found]

    def group_seq(self, stream: str, group_id: str) -> int | None:
        seq = StreamGroup.objects.filter(stream=stream, group_id=group_id).values_list("seq", flat=True).first()
        return int(seq or 0)

    def list_groups(self, stream: str) -> list[str]:
        values = self.model._default_manager.order_by(self.group_by).values_list(self.group_by, flat=True)
        return [str(v) for v in values.distinct()]

    def group_sizes(self, stream: str) -> dict[str, int]:
        rows = self.model._default_manager.order_by().values(self.group_by).annotate(n=models.Count("pk"))
        return {str(row[self.group_by]): row["n"] for row in rows.order_by(self.group_by)}

    def _save(self, group_id: str, id: str, data: dict[str, Any], row: models.Model | None) -> StoredItem:
        fields = {k: v for k, v in data.items() if k != "id"}
        serializer = self.serializer(row, data={**fields, self.group_by: group_id})
        if not serializer.is_valid():
            errors = [{"path": path, "message": str(message)} for path, messages in serializer.errors.items()
                      for message in (messages if isinstance(messages, list) else [messages])]
            raise StreamValidationError("; ".join(f"{e['path']}: {e['message']}" for e in errors), errors)
        saved = serializer.save(**({} if row is not None else {self.model._meta.pk.attname: id}))
        if row is None:
            self._advance_sequence(saved.pk)
        return StoredItem(self.item_data(saved), now_ms(), created=row is None)

    def _advance_sequence(self, pk: Any) -> None:
        """A row created under a chosen id: on PostgreSQL, move the table's id sequence past it, or the next
        ``Model.objects.create()`` would be handed the same id."""
        connection = connections[self.db_alias()]
        field = self.model._meta.pk
        if connection.vendor != "postgresql" or field.get_internal_type() not in _AUTO_FIELDS:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [self.model._meta.db_table, field.column])
            sequence = cursor.fetchone()[0]
            if sequence:  # a quoted, qualified name from PostgreSQL itself
                cursor.execute(f"SELECT setval(%s, GREATEST(%s, (SELECT last_value FROM {sequence})))",
                               [sequence, int(pk)])

    def set(self, stream: str, group_id: str, id: str, data: dict[str, Any], encoded: str) -> StoredItem:
        with transaction.atomic(using=self.db_alias()):
            return self._save(group_id, id, data, self._row(group_id, id))

    def update(self, stream: str, group_id: str, id: str,
               change: Callable[[dict[str, Any] | None], dict[str, Any]]) -> StoredItem:
        with transaction.atomic(using=self.db_alias()):
            row = self._rows(group_id).select_for_update().filter(pk=id).first()
            current = None if row is None else self.item_data(row)
            return self._save(group_id, id, change(current), row)

    def delete(self, stream: str, group_id: str, id: str) -> StoredItem | None:
        row = self._row(group_id, id)
        if row is None:
            return None
        data = self.item_data(row)
        row.delete()
        return StoredItem(data, now_ms())


# --- broadcasting the model's writes -------------------------------------------------------------------------


def _group(backend: ModelBackend, instance: models.Model) -> str:
    return str(getattr(instance, backend.group_by))


def _broadcast(stream: str, backend: ModelBackend, pk: Any, group_id: str, kind: str, using: str,
               data: dict[str, Any] | None = None) -> None:
    """Inside the write's transaction: take the group's next number and timestamp, then read the row as
    stored (unless it is a delete) and publish it after commit."""
    with transaction.atomic(using=using):
        seq, timestamp = StreamGroup.objects.bump(using, stream, group_id, now_ms(), advance=True)
        if data is None:
            row = backend.model._default_manager.using(using).filter(pk=pk).first()
            if row is None:
                return  # deleted meanwhile: its delete tells the subscribers
            data = backend.item_data(row)
    publish(item_change(kind, stream, group_id, str(pk), make_item(str(pk), data), timestamp, seq), using=using,
            previous=data if kind == "delete" else None)


#: The model-backed streams of each model, as ``connect()`` last set them.
_streams: dict[type[models.Model], list[tuple[str, ModelBackend]]] = {}


def _streams_of(sender: type[models.Model]) -> list[tuple[str, ModelBackend]]:
    return _streams.get(sender, [])


def _before_save(sender: type[models.Model], instance: models.Model, raw: bool = False, using: str | None = None,
                 **kwargs: Any) -> None:
    """A row about to move to another group: remember the group it leaves and the item it was there."""
    if instance.pk is None or instance._state.adding:
        return
    old: models.Model | None = None
    for stream, backend in _streams_of(sender):
        if old is None:
            old = backend.model._default_manager.using(using).filter(pk=instance.pk).first()
            if old is None:
                return
        if _group(backend, old) != _group(backend, instance):
            moves = instance.__dict__.setdefault("_motia_moves", {})
            moves[stream] = (_group(backend, old), backend.item_data(old))


def _after_save(sender: type[models.Model], instance: models.Model, created: bool, using: str,
                **kwargs: Any) -> None:
    moves = instance.__dict__.pop("_motia_moves", {})
    for stream, backend in _streams_of(sender):
        moved = moves.get(stream)
        if moved is not None:
            _broadcast(stream, backend, instance.pk, moved[0], "delete", using, moved[1])
        _broadcast(stream, backend, instance.pk, _group(backend, instance),
                   "create" if created or moved else "update", using)


def _after_delete(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    for stream, backend in _streams_of(sender):
        _broadcast(stream, backend, instance.pk, _group(backend, instance), "delete", using,
                   backend.item_data(instance))


def connect(streams: list[tuple[str, Backend]]) -> None:
    """Broadcast the writes of the models behind ``streams`` ((name, backend) pairs; other backends are
    skipped); called from ``AppConfig.ready()`` and on every reload of the stream registry."""
    _streams.clear()
    for name, backend in streams:
        if isinstance(backend, ModelBackend):
            _streams.setdefault(backend.model, []).append((name, backend))
    for model in _streams:
        uid = f"motia_model_stream:{model._meta.label}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
        post_save.connect(_after_save, sender=model, dispatch_uid=uid)
        post_delete.connect(_after_delete, sender=model, dispatch_uid=uid)


def broadcast_changes(queryset: models.QuerySet[Any], *, event: str = "update") -> int:
    """Broadcast every row of ``queryset`` to the model's streams after commit (after ``QuerySet.update()``
    or ``bulk_create()``, which send no signals); returns how many rows."""
    if event not in ("create", "update"):
        raise ValueError("event must be 'create' or 'update'")
    count = 0
    using = queryset.db
    with transaction.atomic(using=using):
        for row in queryset.order_by("pk"):
            for stream, backend in _streams_of(queryset.model):
                _broadcast(stream, backend, row.pk, _group(backend, row), event, using)
            count += 1
    return count


class StreamQuerySet(models.QuerySet[Any]):
    """Use as a model-backed stream's manager (``objects = StreamQuerySet.as_manager()``) for
    ``qs.broadcast_changes()``, as ``StreamItem`` has."""

    def broadcast_changes(self, *, event: str = "update") -> int:
        return broadcast_changes(self, event=event)

