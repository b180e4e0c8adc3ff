"""The broadcaster: one group message per change, encoded once, in order, after commit only."""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import override_settings

from motia_django import broadcast
from motia_django.changes import Change, stream_changed
from motia_django.registry import streams
from tests.realtime import chat

pytestmark = pytest.mark.usefixtures("fresh_layers")


def test_group_names_are_valid_short_and_distinct():
    names = {broadcast.group_name(s, g) for s, g in [("a", "b"), ("a\0b", ""), ("ab", ""), ("x" * 128, "é/☃" * 80)]}
    assert len(names) == 4
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,99}", name), name


def test_message_carries_the_frame_encoded_once():
    change = Change("chatMessage", "room", "m1", {"type": "create", "data": chat("m1")}, 123)
    message = broadcast.message_for(change)
    assert message["type"] == "motia.change" and message["text"] is change.text
    assert json.loads(message["text"]) == {"timestamp": 123, "streamName": "chatMessage", "groupId": "room",
                                           "id": "m1", "event": {"type": "create", "data": chat("m1")}}
    assert (message["stream"], message["group"], message["id"]) == ("chatMessage", "room", "m1")


async def _listen(group: str) -> tuple[object, str]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


@pytest.mark.django_db(transaction=True)
async def test_changes_signalled_in_a_running_loop_stay_in_order():
    layer, channel = await _listen(broadcast.group_name("chatMessage", "room"))
    for i in range(50):  # the loop's own thread: queued, drained by one task, never blocking
        stream_changed.send(sender=Change, change=Change("chatMessage", "room", None,
                                                         {"type": "event", "event": {"type": "n", "data": i}}, i + 1))
    got = [json.loads((await layer.receive(channel))["text"])["event"]["event"]["data"] for _ in range(50)]
    assert got == list(range(50))


@pytest.mark.django_db(transaction=True)
async def test_writes_from_threads_reach_the_group_in_order():
    layer, channel = await _listen(broadcast.group_name("chatMessage", "room"))

    def writes():
        streams.chatMessage.set("room", "m", chat("m", "1"))
        streams.chatMessage.set("room", "m", chat("m", "2"))
        streams.chatMessage.delete("room", "m")

    await sync_to_async(writes)()
    frames = [json.loads((await layer.receive(channel))["text"]) for _ in range(3)]
    assert [f["event"]["type"] for f in frames] == ["create", "update", "delete"]
    assert frames[0]["timestamp"] < frames[1]["timestamp"] < frames[2]["timestamp"]


@pytest.mark.django_db(transaction=True)
def test_a_failing_layer_does_not_fail_the_committed_write(monkeypatch, caplog):
    class Broken:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(broadcast, "_layer", lambda: Broken())
    item = streams.chatMessage.set("room", "m", chat("m"))
    assert item["id"] == "m" and streams.chatMessage.get("room", "m") == chat("m")
    assert "Could not broadcast" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_no_channel_layer_configured_is_not_an_error():
    with override_settings(CHANNEL_LAYERS={}):
        from channels.layers import channel_layers

        channel_layers.backends.clear()
        assert streams.chatMessage.set("room", "m", chat("m"))["id"] == "m"


def test_connected_once():
    receivers = [r for r in stream_changed.receivers if r[0][0] == broadcast._DISPATCH_UID]
    assert len(receivers) == 1


@pytest.mark.django_db(transaction=True)
async def test_writes_from_a_plain_thread_reach_sockets_on_the_server_loop():
    """The in-process event runner writes from its own thread (no loop of the server's): the in-memory layer must
    still be used from the consumers' loop only, in order, and the writer must not wait for delivery."""
    import asyncio
    import threading

    from django.db import connection

    from tests.realtime import Client

    client = await Client().connect()
    await client.join("chatMessage", "room")
    assert (await client.next())["event"] == {"type": "sync", "data": []}
    layer, loops = get_channel_layer(), []
    original = layer.group_send

    async def recording_group_send(group, message):
        loops.append(asyncio.get_running_loop())
        await original(group, message)

    layer.group_send = recording_group_send

    def writes():
        for i in range(20):
            streams.chatMessage.set("room", "m", chat("m", str(i)))
        connection.close()

    thread = threading.Thread(target=writes)
    thread.start()
    await asyncio.get_running_loop().run_in_executor(None, thread.join)
    frames = [await client.next() for _ in range(20)]
    assert [f["event"]["type"] for f in frames] == ["create"] + ["update"] * 19
    assert [f["event"]["data"]["message"] for f in frames] == [str(i) for i in range(20)]
    assert loops == [asyncio.get_running_loop()] * 20
    await client.close()
