"""The stream consumer with raw protocol frames (channels.testing.WebsocketCommunicator, in-memory layer).

Each guarantee of docs/protocol.md has a test here; ``Client.fence`` proves that nothing else arrived (no sleeps).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.test import override_settings

from motia_django.models import StreamItem
from motia_django.realtime import snapshots as snapshots_module  # where joins read their snapshots
from motia_django.realtime.consumer import CLOSE_SLOW_CLIENT, StreamConsumer
from motia_django.stream.registry import streams
from tests.support.realtime import Client, chat, error_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layers")]


async def test_routed_at_root_and_documented_path():
    for path in ("/", "/motia/streams/", "/?authToken=x"):
        client = await Client(path).connect()
        assert client.connected, path
        await client.join("chatMessage", "r", sub="s")
        assert (await client.next())["event"] == {"type": "sync", "data": []}
        await client.close()


async def test_group_sync_create_update_delete_and_event():
    await streams.chatMessage.aset("room", "a", chat("a", "first"))
    client = await Client().connect()
    await client.join("chatMessage", "room")
    sync = await client.next()
    assert sync["streamName"] == "chatMessage" and sync["groupId"] == "room" and "id" not in sync
    assert sync["event"] == {"type": "sync", "data": [chat("a", "first")]}
    assert sync["timestamp"] > 0

    await streams.chatMessage.aset("room", "b", chat("b"))
    create = await client.next()
    assert create["id"] == "b" and create["event"] == {"type": "create", "data": chat("b")}

    await streams.chatMessage.aset("room", "b", chat("b", "edited"))
    update = await client.next()
    assert update["event"] == {"type": "update", "data": chat("b", "edited")}
    assert update["timestamp"] > create["timestamp"]

    await streams.chatMessage.adelete("room", "b")
    delete = await client.next()
    assert delete["event"] == {"type": "delete", "data": chat("b", "edited")}
    assert delete["timestamp"] > update["timestamp"]

    await streams.chatMessage.asend({"groupId": "room"}, {"type": "typing", "data": {"user": "u1"}})
    event = await client.next()
    assert "id" not in event
    assert event["event"] == {"type": "event", "event": {"type": "typing", "data": {"user": "u1"}}}
    await client.close()


async def test_item_subscription():
    client = await Client().connect()
    await client.join("chatMessage", "room", "m1")
    sync = await client.next()
    assert sync["id"] == "m1" and sync["event"] == {"type": "sync", "data": None} and sync["timestamp"] > 0

    await streams.chatMessage.aset("room", "other", chat("other"))  # another item of the group: not for us
    await streams.chatMessage.aset("room", "m1", chat("m1"))
    assert (await client.next())["event"] == {"type": "create", "data": chat("m1")}
    await streams.chatMessage.aupdate("room", "m1", [{"type": "set", "path": "message", "value": "v2"}])
    assert (await client.next())["event"] == {"type": "update", "data": chat("m1", "v2")}
    await streams.chatMessage.asend({"groupId": "room", "id": "m1"}, {"type": "typing", "data": {}})
    assert (await client.next())["event"]["event"]["type"] == "typing"
    await streams.chatMessage.asend({"groupId": "room"}, {"type": "group-only", "data": {}})  # not for items
    await streams.chatMessage.adelete("room", "m1")
    assert (await client.next())["event"] == {"type": "delete", "data": chat("m1", "v2")}
    await client.fence("chatMessage", "room", "m1")

    # a later item join carries the item's own timestamp
    stored = await streams.chatMessage.aset("room", "m2", chat("m2"))
    await client.join("chatMessage", "room", "m2")
    sync2 = await client.next()
    row = await StreamItem.objects.aget(stream="chatMessage", group_id="room", item_id="m2")
    assert sync2["timestamp"] == row.timestamp and sync2["event"]["data"]["id"] == stored["id"]
    await client.close()


async def test_each_message_once_per_socket():
    client = await Client().connect()
    await client.join("chatMessage", "room")
    await client.join("chatMessage", "room", "m1")
    await client.join("chatMessage", "room", "m1")  # a second item subscription to the same item
    for _ in range(3):
        assert (await client.next())["event"]["type"] == "sync"
    await streams.chatMessage.aset("room", "m1", chat("m1"))
    assert (await client.next())["event"]["type"] == "create"
    await streams.chatMessage.asend({"groupId": "room", "id": "m1"}, {"type": "typing", "data": {}})
    assert (await client.next())["event"]["event"]["type"] == "typing"
    await client.fence("chatMessage", "room")  # nothing was sent twice
    await client.close()


async def test_same_millisecond_writes_get_increasing_timestamps(monkeypatch):
    client = await Client().connect()
    await client.join("chatMessage", "room", "m1")
    await client.next()
    monkeypatch.setattr("motia_django.stream.items.time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    await streams.chatMessage.aset("room", "m1", chat("m1", "one"))
    await streams.chatMessage.aset("room", "m1", chat("m1", "two"))
    first, second = await client.next(), await client.next()
    assert first["event"] == {"type": "create", "data": chat("m1", "one")}
    assert second["event"] == {"type": "update", "data": chat("m1", "two")}
    assert second["timestamp"] > first["timestamp"]
    await client.close()


async def test_delete_of_missing_item_sends_nothing():
    client = await Client().connect()
    await client.join("chatMessage", "room")
    await client.next()
    assert await streams.chatMessage.adelete("room", "nope") is None
    await client.fence("chatMessage", "room")
    await client.close()


async def test_change_between_registration_and_snapshot_is_not_lost(monkeypatch):
    real = snapshots_module.snapshot

    def snapshot_then_write(stream, sub, **limits):
        text = real(stream, sub, **limits)  # the snapshot is read ...
        streams.chatMessage.set("room", "late", chat("late"))  # ... and a change lands right after it
        return text

    monkeypatch.setattr(snapshots_module, "snapshot", snapshot_then_write)
    client = await Client().connect()
    await client.join("chatMessage", "room")
    assert (await client.next())["event"] == {"type": "sync", "data": []}
    assert (await client.next())["event"] == {"type": "create", "data": chat("late")}
    await client.close()


async def test_other_groups_and_streams_do_not_reach_the_socket():
    client = await Client().connect()
    await client.join("chatMessage", "room")
    await client.next()
    await streams.chatMessage.aset("other-room", "x", chat("x"))
    await streams.openai.aset("room", "x", {"message": "not chat"})
    await streams.chatMessage.asend({"groupId": "other-room"}, {"type": "typing", "data": {}})
    await client.fence("chatMessage", "room")
    await client.close()


async def test_bad_frames_never_close_or_disturb():
    client = await Client().connect()
    await client.join("chatMessage", "room")
    await client.next()
    comm = client.comm
    await comm.send_to(text_data="not json{")
    await comm.send_to(text_data="[1, 2]")
    await comm.send_to(text_data='"join"')
    await comm.send_to(bytes_data=b"\x00\x01")
    await comm.send_json_to({"type": "join"})
    await comm.send_json_to({"type": "join", "data": "nope"})
    await comm.send_json_to({"type": "leave", "data": {}})
    await comm.send_json_to({"type": "dance", "data": {"streamName": "chatMessage", "groupId": "room"}})
    assert error_code(await client.next()) == "INVALID_MESSAGE"
    await comm.send_json_to({"type": "join", "data": {"streamName": "chatMessage", "groupId": "room"}})
    frame = await client.next()
    assert error_code(frame) == "INVALID_MESSAGE" and frame["groupId"] == "room"
    await comm.send_json_to({"type": "join", "data": {"streamName": "chatMessage", "groupId": "",
                                                      "subscriptionId": "s"}})
    await comm.send_json_to({"type": "join", "data": {"streamName": "nope", "groupId": "g", "subscriptionId": "s"}})
    frame = await client.next()
    assert error_code(frame) == "STREAM_NOT_FOUND" and frame["streamName"] == "nope"
    with override_settings(MOTIA={"MAX_FRAME_BYTES": 200}):
        big = {"type": "join", "data": {"streamName": "chatMessage", "groupId": "room", "subscriptionId": "x" * 300}}
        await comm.send_to(text_data=json.dumps(big))
        await client.fence("chatMessage", "room")  # the oversized frame was ignored
    # the original subscription still works, and the connection is open
    await streams.chatMessage.aset("room", "m", chat("m"))
    nxt = await client.next()
    assert nxt["event"]["type"] == "create", nxt
    await client.close()


async def test_leave_and_rejoin_with_same_subscription_id():
    client = await Client().connect()
    group_sub = await client.join("chatMessage", "room")
    item_sub = await client.join("chatMessage", "other", "m1")
    await client.next()
    await client.next()
    await client.leave("chatMessage", "room", group_sub)
    await client.leave("chatMessage", "room", "never-joined")  # ignored
    await client.handled()  # a change racing a leave in flight may still arrive; not one made after it
    await streams.chatMessage.aset("room", "x", chat("x"))
    await client.fence("chatMessage", "other", "m1")
    await client.join("chatMessage", "room", sub=item_sub)  # reusing an id replaces that subscription
    assert (await client.next())["event"]["data"] == [chat("x")]
    await streams.chatMessage.aset("other", "m1", chat("m1"))
    await client.fence("chatMessage", "room")
    await client.close()


async def test_group_joined_once_and_left_on_close():
    from motia_django.realtime.hub import hub

    client = await Client().connect()
    for _ in range(3):
        await client.join("chatMessage", "room")
    await client.join("chatMessage", "room", "m1")
    for _ in range(4):
        await client.next()
    assert [len(hub.members(key)) for key in hub.sockets] == [1]  # one socket, once, on one group
    await client.close()
    await asyncio.sleep(0)
    assert not hub.sockets


async def test_an_idle_socket_keeps_only_what_it_still_needs():
    """After its sync a socket holds no snapshot handoff and no item counters, and its scope none of what was
    read at connect (the bench's memory per socket)."""
    from motia_django.realtime.hub import hub

    client = await Client(headers=[(b"cookie", b"theme=dark")]).connect()
    await client.join("chatMessage", "idle-room")
    assert (await client.next())["event"]["type"] == "sync"
    (consumer,) = hub.members(("chatMessage", "idle-room"))
    assert consumer.handoff is None and consumer.subscriptions.table.items is None
    assert not {"headers", "cookies", "session", "subprotocols", "query_string"} & set(consumer.scope)
    assert consumer.scope["path"] == "/" and consumer.scope["user"].is_anonymous
    assert consumer.groups == ()  # Channels' per-socket list of layer groups: none
    await client.close()


async def test_max_subscriptions():
    with override_settings(MOTIA={"MAX_SUBSCRIPTIONS": 2}):
        client = await Client().connect()
        await client.join("chatMessage", "a")
        await client.join("chatMessage", "b")
        await client.join("chatMessage", "c")
        await client.next()
        await client.next()
        frame = await client.next()
        assert error_code(frame) == "TOO_MANY_SUBSCRIPTIONS" and frame["groupId"] == "c"
        await client.close()


async def test_writes_from_sync_code_and_orm_are_broadcast():
    client = await Client().connect()
    await client.join("chatMessage", "room")
    await client.next()

    def orm_writes():
        item = StreamItem(stream="chatMessage", group_id="room", item_id="o", data=chat("o"))
        item.save()
        item.data = chat("o", "saved again")
        item.save()
        item.delete()

    await sync_to_async(orm_writes)()
    kinds = [(await client.next())["event"] for _ in range(3)]
    assert kinds == [{"type": "create", "data": chat("o")}, {"type": "update", "data": chat("o", "saved again")},
                     {"type": "delete", "data": chat("o", "saved again")}]
    await client.close()


async def test_rolled_back_writes_are_not_broadcast():
    client = await Client().connect()
    await client.join("chatMessage", "room")
    await client.next()

    def rolled_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            streams.chatMessage.set("room", "ghost", chat("ghost"))
            StreamItem.objects.create(stream="chatMessage", group_id="room", item_id="ghost2", data=chat("ghost2"))
            raise RuntimeError("roll back")

    def committed():
        with transaction.atomic():
            streams.chatMessage.set("room", "real", chat("real"))
            streams.chatMessage.set("room", "real", chat("real", "v2"))

    await sync_to_async(rolled_back)()
    await sync_to_async(committed)()
    assert (await client.next())["event"] == {"type": "create", "data": chat("real")}
    assert (await client.next())["event"] == {"type": "update", "data": chat("real", "v2")}
    await client.fence("chatMessage", "room")
    await client.close()


async def test_bulk_path():
    await streams.chatMessage.aset("room", "a", chat("a"))
    await streams.chatMessage.aset("room", "b", chat("b"))
    client = await Client().connect()
    await client.join("chatMessage", "room")
    sync = await client.next()

    def bulk():
        qs = StreamItem.objects.filter(stream="chatMessage", group_id="room")
        qs.update(data=chat("z", "bulk"))  # raw update: no signal, nothing broadcast ...
        return qs.broadcast_changes()  # ... until broadcast_changes() is called

    assert await sync_to_async(bulk)() == 2
    frames = [await client.next(), await client.next()]
    assert {f["id"] for f in frames} == {"a", "b"}
    assert all(f["event"]["type"] == "update" and f["event"]["data"]["message"] == "bulk" for f in frames)
    assert all(f["timestamp"] > 0 for f in frames) and sync["timestamp"] > 0
    await client.fence("chatMessage", "room")
    await client.close()


def make_memory_storage():
    from motia_django.stream.backends.custom import StateStream

    class Memory(StateStream):
        def __init__(self):
            self.groups: dict[str, dict[str, dict]] = {}

        def get(self, group_id, id):
            return self.groups.get(group_id, {}).get(id)

        def set(self, group_id, id, data):
            self.groups.setdefault(group_id, {})[id] = data
            return data

        def delete(self, group_id, id):
            return self.groups.get(group_id, {}).pop(id, None)

        def get_group(self, group_id):
            return list(self.groups.get(group_id, {}).items())

    return Memory()


async def test_custom_storage_is_broadcast_the_same_way():
    definition = {"schema": {"type": "object"},
                  "baseConfig": {"storageType": "custom", "factory": "tests.realtime.test_consumer.make_memory_storage"}}
    with override_settings(STREAMS={"memo": definition}):
        client = await Client().connect()
        await client.join("memo", "g")
        assert (await client.next())["event"] == {"type": "sync", "data": []}
        await streams.memo.aset("g", "k", {"v": 1})
        await streams.memo.aset("g", "k", {"v": 2})
        await streams.memo.adelete("g", "k")
        events = [(await client.next())["event"] for _ in range(3)]
        assert events == [{"type": "create", "data": {"id": "k", "v": 1}},
                          {"type": "update", "data": {"id": "k", "v": 2}},
                          {"type": "delete", "data": {"id": "k", "v": 2}}]
        await client.close()


async def test_slow_client_is_disconnected_past_the_queue_limit(monkeypatch):
    release = asyncio.Event()
    written: list[str] = []

    async def stalled_write(self, text):
        if written:  # the first frame (the sync) goes out; then the client stops reading
            await release.wait()
        written.append(text)
        await self.send(text_data=text)

    monkeypatch.setattr(StreamConsumer, "write_frame", stalled_write)
    with override_settings(MOTIA={"SEND_QUEUE_LIMIT": 3}):
        client = await Client().connect()
        await client.join("chatMessage", "room")
        await client.next()
        for i in range(6):
            await streams.chatMessage.asend({"groupId": "room"}, {"type": "tick", "data": {"i": i}})
        output = await client.comm.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": CLOSE_SLOW_CLIENT}
        release.set()


async def test_admin_edits_reach_subscribers(admin_client):
    from django.urls import reverse

    await streams.chatMessage.aset("room", "m1", chat("m1"))
    client = await Client().connect()
    await client.join("chatMessage", "room", "m1")
    before = await client.next()
    pk = (await StreamItem.objects.aget(stream="chatMessage", group_id="room", item_id="m1")).pk
    response = await sync_to_async(admin_client.post)(
        reverse("admin:motia_django_streamitem_change", args=[pk]),
        {"stream": "chatMessage", "group_id": "room", "item_id": "m1", "data": json.dumps(chat("m1", "by admin"))},
    )
    assert response.status_code == 302
    frame = await client.next()
    assert frame["event"] == {"type": "update", "data": chat("m1", "by admin")}
    assert frame["timestamp"] > before["timestamp"]
    await client.close()


async def test_a_group_sync_holds_the_newest_items_up_to_the_streams_limit():
    with override_settings(STREAMS={"capped": {"schema": {"type": "object"}, "syncLimit": 3}}):
        for i in range(5):
            await streams["capped"].aset("big", f"m{i}", {"i": i})
        client = await Client().connect()
        await client.join("capped", "big")
        assert [item["id"] for item in (await client.next())["event"]["data"]] == ["m2", "m3", "m4"]
        assert len(await streams["capped"].aget_group("big")) == 5  # the stream API still reaches everything
        await client.close()


async def test_a_snapshot_that_cannot_be_read_refuses_the_join_and_a_failed_resync_closes_the_socket(monkeypatch):
    from motia_django.realtime.hub import hub

    real = snapshots_module.snapshot
    monkeypatch.setattr(snapshots_module, "snapshot", lambda stream, sub, **limits: 1 / 0)
    client = await Client().connect()
    await client.join("chatMessage", "broken")
    assert error_code(await client.next()) == "SYNC_FAILED"
    monkeypatch.setattr(snapshots_module, "snapshot", real)
    await client.join("chatMessage", "room")
    await client.next()
    await streams.chatMessage.aset("broken", "m1", chat("m1"))  # no subscription was made
    await client.fence("chatMessage", "room")
    monkeypatch.setattr(snapshots_module, "snapshot", lambda stream, sub, **limits: 1 / 0)
    hub.resync([("chatMessage", "room")])  # a change was lost, and the snapshot cannot be read either
    output = await client.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 1011}  # the client reconnects: never silently behind


async def test_a_socket_makes_no_close_old_connections_hop(monkeypatch):
    """Channels calls ``close_old_connections`` in a thread before every message and after a disconnect; this
    consumer uses no connection of its own thread, and skips those hops (a reconnect storm's and a shutdown's
    largest cost with thousands of sockets)."""
    import channels.consumer
    import channels.generic.websocket

    hops: list[str] = []

    async def counted() -> None:
        hops.append("hop")

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    monkeypatch.setattr(channels.generic.websocket, "aclose_old_connections", counted)
    client = await Client().connect()
    await client.join("chatMessage", "hops")
    assert (await client.next())["event"]["type"] == "sync"
    await client.close()
    assert hops == []
