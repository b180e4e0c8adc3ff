"""motia_django.stream.receivers: ORM saves and deletes of ``StreamItem`` are validated, stamped and published
after commit like stream writes; ``disconnect()`` / ``connect()`` take the receivers off and back."""

from __future__ import annotations

import pytest
from django.db import transaction

from motia_django.exceptions import StreamNotFound, StreamValidationError
from motia_django.models import StreamGroup, StreamItem
from motia_django.stream import items, receivers
from tests.support.realtime import chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def frozen(monkeypatch):
    """The protocol's clock stopped at 1000 ms."""
    monkeypatch.setattr(items, "time_ns", lambda: 1_000 * 1_000_000)


def row(id: str = "m1", group: str = "room", **data) -> StreamItem:
    return StreamItem(stream="chatMessage", group_id=group, item_id=id, data={**chat(id), **data})


def test_a_save_is_stamped_and_published_after_commit(changes, frozen):
    item = row()
    with transaction.atomic():
        item.save()
        assert (item.version, item.timestamp) == (1, 1_000)
        assert item.created_at is not None and item.updated_at is not None
        assert changes == []  # not before the commit
    (change,) = changes
    assert (change.type, change.stream, change.group_id, change.id, change.timestamp) == (
        "create", "chatMessage", "room", "m1", 1_000)
    assert change.event["data"] == chat("m1") and change.seq == StreamGroup.objects.get().seq == 1


def test_an_update_is_one_more_version_and_a_greater_timestamp(changes, frozen):
    item = row()
    item.save()
    created = item.created_at
    item.data = chat("m1", "edited")
    item.save()
    stored = StreamItem.objects.get()
    assert (stored.version, stored.timestamp, stored.created_at) == (2, 1_001, created)
    assert [(c.type, c.timestamp, c.seq) for c in changes] == [("create", 1_000, 1), ("update", 1_001, 2)]
    assert changes[1].event["data"]["message"] == "edited"


def test_the_data_is_validated_before_anything_is_written(changes):
    with pytest.raises(StreamValidationError):
        row(user_id=5).save()
    with pytest.raises(StreamValidationError):
        row(group="").save()
    with pytest.raises(StreamNotFound):
        StreamItem(stream="noSuchStream", group_id="g", item_id="i", data={}).save()
    assert not StreamItem.objects.exists() and not StreamGroup.objects.exists() and changes == []


def test_a_rolled_back_save_is_not_published(changes):
    with pytest.raises(RuntimeError), transaction.atomic():
        row().save()
        raise RuntimeError("roll back")
    assert changes == [] and not StreamItem.objects.exists()


def test_a_delete_is_published_with_a_floor_for_re_creates(changes, frozen):
    item = row()
    item.save()
    item.delete()
    (group,) = StreamGroup.objects.all()
    assert [(c.type, c.timestamp, c.seq) for c in changes] == [("create", 1_000, 1), ("delete", 1_001, 2)]
    assert changes[1].event["data"] == chat("m1")
    assert group.floor == 1_001 and group.seq == 2
    again = row()
    again.save()  # the same millisecond still: above the delete, so item subscribers do not drop it
    assert again.timestamp == 1_002 and changes[-1].type == "create"


def test_raw_saves_are_not_stamped():
    item = row()
    item.timestamp, item.version = 42, 7
    receivers.stamp(StreamItem, item, raw=True)
    assert (item.timestamp, item.version) == (42, 7) and not StreamGroup.objects.exists()


def test_disconnect_stops_it_and_connect_restores_it(changes, frozen):
    receivers.disconnect()
    try:
        loose = row("loose", user_id=5)  # not validated
        loose.created_at = loose.updated_at = "2026-01-01T00:00:00Z"
        loose.save()
        assert loose.timestamp == 0 and loose.version == 1  # not stamped either
        loose.delete()
        assert changes == [] and not StreamGroup.objects.exists()
    finally:
        receivers.connect()
    row().save()
    assert [c.id for c in changes] == ["m1"]
    with pytest.raises(StreamValidationError):
        row("bad", user_id=5).save()


def test_connect_twice_connects_once(changes):
    receivers.connect()
    receivers.connect()
    row().save()
    assert len(changes) == 1
