"""The ORM path: saves and deletes of StreamItem (shell, admin, user code) keep the stream's rules and are
published after commit; the bulk path is explicit."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from motia_django import StreamValidationError, streams
from motia_django.models import Event, StateEntry, StreamItem

pytestmark = pytest.mark.django_db(transaction=True)


def test_orm_create_update_delete_are_published_with_increasing_timestamps(changes, monkeypatch):
    from motia_django.stream import items as core

    monkeypatch.setattr(core, "time_ns", lambda: 7 * 1_000_000)
    item = StreamItem.objects.create(stream="openai", group_id="g", item_id="i", data={"message": "a"})
    item.data = {"message": "b"}
    item.save()
    item.delete()
    assert [(c.type, c.timestamp) for c in changes] == [("create", 7), ("update", 8), ("delete", 9)]
    assert changes[1].event["data"] == {"id": "i", "message": "b"}


def test_orm_save_after_api_write_continues_the_timestamp(changes):
    streams.openai.set("g", "i", {"message": "a"})
    row = StreamItem.objects.get()
    row.data = {"message": "b"}
    row.save(update_fields=["data"])
    assert changes[1].timestamp > changes[0].timestamp
    assert StreamItem.objects.get().version == 2


def test_orm_save_validates_against_the_schema(changes):
    with pytest.raises(StreamValidationError, match="data.message"):
        StreamItem.objects.create(stream="openai", group_id="g", item_id="i", data={"message": 1})
    with pytest.raises(StreamValidationError, match="item id must not be empty"):
        StreamItem.objects.create(stream="openai", group_id="g", item_id="", data={"message": "x"})
    assert StreamItem.objects.count() == 0 and changes == []


def test_unique_key():
    StreamItem.objects.create(stream="openai", group_id="g", item_id="i", data={"message": "a"})
    with pytest.raises(IntegrityError), transaction.atomic():
        StreamItem.objects.create(stream="openai", group_id="g", item_id="i", data={"message": "b"})


def test_orm_write_rolled_back_is_not_published(changes):
    with pytest.raises(RuntimeError), transaction.atomic():
        StreamItem.objects.create(stream="openai", group_id="g", item_id="i", data={"message": "a"})
        raise RuntimeError
    assert changes == []


def test_queryset_update_is_silent_until_broadcast_changes(changes):
    streams.openai.set("g", "a", {"message": "a"})
    streams.openai.set("g", "b", {"message": "b"})
    changes.clear()
    qs = StreamItem.objects.filter(stream="openai", group_id="g")
    qs.update(data={"message": "bulk"})
    assert changes == []
    before = dict(qs.values_list("item_id", "timestamp"))
    assert qs.broadcast_changes() == 2
    assert [(c.type, c.id, c.event["data"]["message"]) for c in changes] == [
        ("update", "a", "bulk"), ("update", "b", "bulk")]
    assert all(c.timestamp > before[c.id] for c in changes)
    with pytest.raises(ValueError, match="create"):
        qs.broadcast_changes(event="delete")


def test_str_and_as_item():
    item = StreamItem(stream="s", group_id="g", item_id="i", data={"id": "other", "x": 1})
    assert str(item) == "s/g/i"
    assert item.as_item() == {"id": "i", "x": 1}


def test_every_json_column_reads_a_large_float_back_as_a_float():
    """PostgreSQL's jsonb keeps 1e20 as a numeric and hands it back as 100000000000000000000: an integer past 64
    bits, which the wire and the stream API refuse. Read through ``StoredJSONDecoder``, it is the float again."""
    value = {"n": 1e20, "m": -1e19, "k": 2**63}
    Event.objects.create(topic="t", step="s", data=value, trace_id="x", available_at=timezone.now())
    StateEntry.objects.create(group="g", key="k", value=value)
    StreamItem.objects.bulk_create([StreamItem(stream="s", group_id="g", item_id="i", data=value,
                                               created_at=timezone.now(), updated_at=timezone.now())])
    for read in (Event.objects.get().data, StateEntry.objects.get().value, StreamItem.objects.get().data):
        assert read == value and type(read["n"]) is float and type(read["k"]) is int
