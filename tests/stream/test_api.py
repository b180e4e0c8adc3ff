"""The stream API, sync side: every operation and every bad input, on the database the suite runs on."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from motia_django import StreamNotFound, StreamValidationError, streams
from motia_django.models import StreamItem
from motia_django.stream.items import MAX_KEY_LENGTH

pytestmark = pytest.mark.django_db(transaction=True)


def msg(id: str, text: str = "hi") -> dict:
    return {"id": id, "user_id": "u1", "message": text, "timestamp": "2026-01-01T00:00:00"}


def test_set_creates_then_updates_and_returns_item_with_reference(changes):
    created = streams.chatMessage.set("room", "m1", msg("m1"))
    assert created == {**msg("m1"), "__motia": {"type": "state-stream", "streamName": "chatMessage",
                                                "groupId": "room", "id": "m1"}}
    updated = streams["chatMessage"].set("room", "m1", msg("m1", "again"))
    assert updated["message"] == "again"
    assert [c.type for c in changes] == ["create", "update"]
    assert changes[0].frame() == {
        "timestamp": changes[0].timestamp, "streamName": "chatMessage", "groupId": "room", "id": "m1",
        "event": {"type": "create", "data": msg("m1")},
    }
    assert StreamItem.objects.get().version == 2


def test_set_is_a_full_replace():
    streams.openai.set("t", "message", {"message": "a"})
    streams.openai.set("t", "message", {"message": "b"})
    assert streams.openai.get("t", "message") == {"id": "message", "message": "b"}


def test_timestamps_strictly_increase_within_one_millisecond(changes, monkeypatch):
    from motia_django.stream import items as core

    monkeypatch.setattr(core, "time_ns", lambda: 1_000 * 1_000_000)
    for i in range(5):
        streams.openai.set("t", "message", {"message": str(i)})
    assert [c.timestamp for c in changes] == [1_000, 1_001, 1_002, 1_003, 1_004]
    assert StreamItem.objects.get().timestamp == 1_004


def test_timestamp_follows_the_clock_when_it_is_ahead(changes, monkeypatch):
    from motia_django.stream import items as core

    monkeypatch.setattr(core, "time_ns", lambda: 5_000 * 1_000_000)
    streams.openai.set("t", "message", {"message": "a"})
    monkeypatch.setattr(core, "time_ns", lambda: 9_000 * 1_000_000)
    streams.openai.set("t", "message", {"message": "b"})
    assert [c.timestamp for c in changes] == [5_000, 9_000]


def test_set_is_one_statement_on_postgresql_and_two_on_sqlite():
    """The item, its timestamp, create-or-update and the group's sequence number in one round trip on
    PostgreSQL (the group bump is a CTE); SQLite has no data-modifying CTE: two statements, one transaction."""
    streams.openai.set("t", "message", {"message": "warm"})
    for _ in range(2):  # the insert path and the update path
        with CaptureQueriesContext(connection) as queries:
            streams.openai.set("t", f"x{_}", {"message": "a"})
        statements = [q["sql"] for q in queries if not q["sql"].upper().startswith(
            ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))]
        assert len(statements) == (1 if connection.vendor == "postgresql" else 2), statements


def test_get_missing_is_none():
    assert streams.chatMessage.get("room", "nope") is None


def test_get_group_in_creation_order_and_list_groups():
    for id in ["c", "a", "b"]:
        streams.chatMessage.set("room", id, msg(id))
    streams.chatMessage.set("room", "a", msg("a", "edited"))  # an update keeps its place
    streams.chatMessage.set("other", "z", msg("z"))
    assert [i["id"] for i in streams.chatMessage.get_group("room")] == ["c", "a", "b"]
    assert streams.chatMessage.getGroup("room")[1]["message"] == "edited"
    assert streams.chatMessage.get_group("empty") == []
    assert streams.chatMessage.list_groups() == ["other", "room"]


def test_delete_returns_item_then_none(changes):
    streams.chatMessage.set("room", "m1", msg("m1"))
    assert streams.chatMessage.delete("room", "m1") == msg("m1")
    assert streams.chatMessage.delete("room", "m1") is None
    assert [c.type for c in changes] == ["create", "delete"]
    assert changes[1].event["data"]["id"] == "m1"
    assert changes[1].timestamp > changes[0].timestamp


def test_update_ops_atomic_and_creates_missing(changes):
    item = streams.openai.update("t", "message", [{"type": "set", "path": "message", "value": "x"}])
    assert item["message"] == "x" and item["__motia"]["id"] == "message"
    streams.chatMessage.set("room", "m1", msg("m1"))
    out = streams.chatMessage.update("room", "m1", [
        {"type": "merge", "value": {"message": "merged"}},
        {"type": "set", "path": "meta.count", "value": 1},
        {"type": "increment", "path": "meta.count", "by": 4},
        {"type": "decrement", "path": "meta.count"},
        {"type": "remove", "path": "meta.gone"},
    ])
    assert out["message"] == "merged" and out["meta"] == {"count": 4}
    assert [c.type for c in changes] == ["create", "create", "update"]


def test_update_invalid_result_writes_nothing():
    streams.openai.set("t", "message", {"message": "keep"})
    with pytest.raises(StreamValidationError, match="openai: data.message"):
        streams.openai.update("t", "message", [{"type": "set", "path": "message", "value": 3}])
    with pytest.raises(StreamValidationError, match="ops\\[0\\]"):
        streams.openai.update("t", "message", [{"type": "explode"}])
    assert streams.openai.get("t", "message")["message"] == "keep"


def test_send_publishes_but_stores_nothing(changes):
    streams.chatMessage.send({"groupId": "room"}, {"type": "typing", "data": {"user_id": "u"}})
    streams.chatMessage.send({"groupId": "room", "id": "m1"}, {"type": "react", "data": 1})
    assert StreamItem.objects.count() == 0
    assert changes[0].frame()["event"] == {"type": "event", "event": {"type": "typing", "data": {"user_id": "u"}}}
    assert "id" not in changes[0].frame() and changes[1].id == "m1"


@pytest.mark.parametrize("channel,event,match", [
    ({}, {"type": "t", "data": 1}, "group id must be a string"),
    ("room", {"type": "t", "data": 1}, "channel must be an object"),
    ({"groupId": "room", "id": 5}, {"type": "t", "data": 1}, "channel id must be a string"),
    ({"groupId": "room"}, {"data": 1}, "non-empty string type"),
    ({"groupId": "room"}, {"type": "", "data": 1}, "non-empty string type"),
    ({"groupId": "room"}, {"type": "t"}, "must have data"),
    ({"groupId": "room"}, {"type": "t", "data": object()}, "not JSON"),
])
def test_send_rejects_bad_channel_or_event(channel, event, match, changes):
    with pytest.raises(StreamValidationError, match=match):
        streams.chatMessage.send(channel, event)
    assert changes == []


@pytest.mark.parametrize("group,item,match", [
    ("", "m1", "group id must not be empty"),
    ("room", "", "item id must not be empty"),
    (None, "m1", "group id must be a string, got NoneType"),
    ("room", 7, "item id must be a string, got int"),
    ("g" * (MAX_KEY_LENGTH + 1), "m1", f"longer than {MAX_KEY_LENGTH}"),
    ("room", "a\x00b", "NUL"),
])
def test_bad_ids_are_clear_errors(group, item, match):
    for call in (lambda: streams.openai.set(group, item, {"message": ""}),
                 lambda: streams.openai.get(group, item),
                 lambda: streams.openai.delete(group, item)):
        with pytest.raises(StreamValidationError, match=match):
            call()
    assert StreamItem.objects.count() == 0


def test_longest_ids_are_accepted():
    streams.openai.set("g" * MAX_KEY_LENGTH, "i" * MAX_KEY_LENGTH, {"message": ""})
    assert streams.openai.get("g" * MAX_KEY_LENGTH, "i" * MAX_KEY_LENGTH) is not None


def test_schema_violation_names_fields_and_writes_nothing(changes):
    with pytest.raises(StreamValidationError) as info:
        streams.chatMessage.set("room", "m1", {"id": "m1", "message": 5})
    err = info.value
    assert {e["path"] for e in err.errors} == {"message", "user_id", "timestamp"}
    assert "chatMessage: data.message: 5 is not of type 'string'" in str(err)
    assert StreamItem.objects.count() == 0 and changes == []


@pytest.mark.parametrize("data,match", [
    ([1, 2], "must be a JSON object"),
    ("text", "must be a JSON object"),
    ({**msg("m"), "score": float("nan")}, "not JSON"),
    ({**msg("m"), "when": object()}, "not JSON"),
])
def test_non_object_or_non_json_data(data, match):
    with pytest.raises(StreamValidationError, match=match):
        streams.chatMessage.set("t", "m", data)
    assert StreamItem.objects.count() == 0


def test_pydantic_schema_errors_and_normalisation():
    with pytest.raises(StreamValidationError, match="openai: data.message: Input should be a valid string"):
        streams.openai.set("t", "m", {"message": 1})
    with pytest.raises(StreamValidationError, match="data.message: Field required"):
        streams.openai.set("t", "m", {})


def test_unknown_stream_is_a_clear_error():
    with pytest.raises(StreamNotFound, match="No stream named 'nope'. Known streams: chatMessage, chatPresence, openai"):
        streams["nope"]
    with pytest.raises(AttributeError, match="No stream named 'nope'"):
        streams.nope  # noqa: B018
    assert "chatMessage" in streams and "nope" not in streams


def test_rolled_back_write_is_not_published(changes):
    with pytest.raises(RuntimeError), transaction.atomic():
        streams.openai.set("t", "m", {"message": "x"})
        raise RuntimeError("roll back")
    assert changes == [] and StreamItem.objects.count() == 0


def test_write_inside_transaction_is_published_after_commit(changes):
    with transaction.atomic():
        streams.openai.set("t", "m", {"message": "x"})
        assert changes == []
    assert [c.type for c in changes] == ["create"]


def test_a_re_created_item_outstamps_its_delete_in_the_same_millisecond(changes, monkeypatch):
    from motia_django.stream import items as core

    streams.chatMessage.set("rc", "m", msg("m"))
    monkeypatch.setattr(core, "time_ns", lambda: 1_000 * 1_000_000)  # a clock stuck in one millisecond
    streams.chatMessage.delete("rc", "m")
    streams.chatMessage.set("rc", "m", msg("m"))
    delete, create = changes[-2:]
    assert (delete.type, create.type) == ("delete", "create")
    assert create.timestamp > delete.timestamp  # an item subscriber would drop it otherwise


def test_every_write_carries_the_groups_next_sequence_number(changes):
    streams.chatMessage.set("sq", "a", msg("a"))
    streams.chatMessage.update("sq", "a", [{"type": "set", "path": "message", "value": "x"}])
    streams.chatMessage.delete("sq", "a")
    streams.chatMessage.delete("sq", "a")  # nothing deleted: no number used
    streams.chatMessage.set("sq", "b", msg("b"))
    streams.chatMessage.send({"groupId": "sq"}, {"type": "typing", "data": {}})
    assert [c.seq for c in changes] == [1, 2, 3, 4, None]


def test_clear_deletes_and_broadcasts_every_item_of_the_group(changes):
    for id in ("a", "b"):
        streams.chatMessage.set("cl", id, msg(id))
    streams.chatMessage.set("other", "c", msg("c"))
    assert [i["id"] for i in streams.chatMessage.clear("cl")] == ["a", "b"]
    assert streams.chatMessage.get_group("cl") == [] and streams.chatMessage.get("other", "c")
    assert [(c.type, c.id) for c in changes[-2:]] == [("delete", "a"), ("delete", "b")]


def test_ids_must_be_valid_unicode():
    with pytest.raises(StreamValidationError, match="valid Unicode"):
        streams.chatMessage.get("g\ud800", "m")
