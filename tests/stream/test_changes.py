"""motia_django.stream.changes: ``Change`` and its frame, ``publish`` after commit only, and ``change_recorded``
inside the write's transaction for the streams ``record_changes_of`` names."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from motia_django.encoding import encode_frame
from motia_django.stream import changes as changes_module
from motia_django.stream.changes import Change, change_recorded, item_change, publish, record_changes_of, recorded

STREAM = "tests.changes"


def item(id: str = "m1", **data) -> Change:
    return item_change("update", STREAM, "room", id, {"id": id, **data}, 1_700, seq=4)


def test_an_item_change_frame():
    change = item_change("create", STREAM, "room", "m1", {"id": "m1", "text": "hé"}, 1_700, seq=3)
    frame = change.frame()
    assert frame == {"timestamp": 1_700, "streamName": STREAM, "groupId": "room", "id": "m1",
                     "event": {"type": "create", "data": {"id": "m1", "text": "hé"}}}
    assert list(frame) == ["timestamp", "streamName", "groupId", "id", "event"]
    assert "seq" not in frame and "committed" not in frame  # not part of the wire frame
    assert change.type == "create" and change.seq == 3


def test_a_group_event_frame_has_no_id():
    change = Change(STREAM, "room", None, {"type": "event", "event": {"type": "typing", "data": {}}}, 5)
    assert change.frame() == {"timestamp": 5, "streamName": STREAM, "groupId": "room",
                              "event": {"type": "event", "event": {"type": "typing", "data": {}}}}
    assert change.type == "event" and change.seq is None


def test_text_is_the_frame_encoded_once():
    change = item(text="hi")
    assert change.text == encode_frame(change.frame())
    assert json.loads(change.text) == change.frame()
    assert change.text is change.text  # cached
    assert change.size == len(change.text.encode())


def test_committed_is_not_part_of_equality():
    from dataclasses import replace

    change = item()
    assert replace(change, committed=12.5) == change


# --- publish -------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_publish_waits_for_the_commit(changes):
    change = item()
    with transaction.atomic():
        publish(change)
        assert changes == []
    assert changes == [change]
    assert changes[0].committed is not None  # stamped when its transaction committed


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_is_never_published(changes):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(item())
        raise RuntimeError("roll back")
    assert changes == []
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint rolled back
            publish(item("inner"))
            raise RuntimeError("roll back the savepoint")
        publish(item("outer"))
    assert [c.id for c in changes] == ["outer"]


@pytest.mark.django_db(transaction=True)
def test_without_a_transaction_it_is_published_at_once(changes):
    publish(item())
    assert [c.id for c in changes] == ["m1"]


@pytest.mark.django_db
def test_publish_is_an_on_commit_callback(changes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish(item())
    assert len(callbacks) == 1 and changes == []
    callbacks[0]()
    assert [c.id for c in changes] == ["m1"]


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_is_not_raised_to_the_writer(changes):
    def broken(**kwargs):
        raise RuntimeError("receiver down")

    changes_module.stream_changed.connect(broken, dispatch_uid="tests-changes-broken")
    try:
        with transaction.atomic():
            publish(item())
        publish(item("m2"))  # robust on-commit callbacks: the committed write does not raise afterwards
    finally:
        changes_module.stream_changed.disconnect(dispatch_uid="tests-changes-broken")
    assert [c.id for c in changes] == ["m1", "m2"]  # connected before the broken one


# --- change_recorded -----------------------------------------------------------------------------------------


@pytest.fixture
def record(monkeypatch):
    """``change_recorded`` as sent, with the streams it reports restored afterwards."""
    monkeypatch.setattr(changes_module, "_recorded", changes_module._recorded)
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    change_recorded.connect(receiver, dispatch_uid="tests-changes-recorded")
    yield seen
    change_recorded.disconnect(dispatch_uid="tests-changes-recorded")


def test_record_changes_of_replaces_the_set(record):
    record_changes_of({STREAM})
    assert recorded(STREAM) and not recorded("other")
    record_changes_of(set())
    assert not recorded(STREAM)


@pytest.mark.django_db(transaction=True)
def test_change_recorded_inside_the_transaction_for_recorded_streams(record, changes):
    record_changes_of({STREAM})
    change = item()
    with transaction.atomic():
        publish(change, using="default", previous={"id": "m1", "old": True})
        assert record == [{"signal": change_recorded, "change": change, "previous": {"id": "m1", "old": True},
                           "using": "default"}]
        assert changes == []  # stream_changed still waits for the commit
    assert changes == [change]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["create", "update", "delete"])
def test_every_item_change_kind_is_recorded(record, kind):
    record_changes_of({STREAM})
    publish(item_change(kind, STREAM, "room", "m1", {"id": "m1"}, 1))
    assert [r["change"].type for r in record] == [kind]


@pytest.mark.django_db(transaction=True)
def test_events_and_other_streams_are_not_recorded(record, changes):
    record_changes_of({STREAM})
    publish(Change(STREAM, "room", None, {"type": "event", "event": {"type": "typing", "data": {}}}, 1))
    publish(Change(STREAM, "room", "m1", {"type": "event", "event": {"type": "typing", "data": {}}}, 2))
    publish(item_change("update", "otherStream", "room", "m1", {"id": "m1"}, 3))
    assert record == []
    assert len(changes) == 3  # all published all the same
