"""The relay: changes to other processes through the channel layer (one message per change per process), and
theirs to this process's hub, never our own back. Another process is played here by messages with another
origin on an in-memory layer; tests/test_scaleout.py runs real processes on Redis."""

from __future__ import annotations

import json
import re

import pytest
from channels.layers import InMemoryChannelLayer

from motia_django import layers
from motia_django.layers import process_origin
from motia_django.realtime.hub import hub
from motia_django.realtime.relay import MESSAGE_TYPE, Relay, group_name
from motia_django.stream.changes import Change
from motia_django.stream.registry import streams
from tests.support.realtime import Client, chat

pytestmark = pytest.mark.usefixtures("fresh_layers")


def test_group_names_are_valid_short_and_distinct():
    names = {group_name(s, g) for s, g in [("a", "b"), ("a\0b", ""), ("ab", ""), ("x" * 128, "é/☃" * 80)]}
    assert len(names) == 4
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,99}", name), name


def test_message_carries_the_frame_encoded_once_and_its_origin():
    change = Change("chatMessage", "room", "m1", {"type": "create", "data": chat("m1")}, 123)
    message = Relay(hub, InMemoryChannelLayer(), layers.submit).message(change)
    assert message["type"] == MESSAGE_TYPE and message["text"] is change.text and message["origin"] == process_origin()
    assert json.loads(message["text"]) == {"timestamp": 123, "streamName": "chatMessage", "groupId": "room",
                                           "id": "m1", "event": {"type": "create", "data": chat("m1")}}
    assert (message["stream"], message["group"], message["id"]) == ("chatMessage", "room", "m1")


@pytest.fixture
def relay():
    """A relay on an in-memory layer, as if the broadcast layer reached other processes."""
    layer = InMemoryChannelLayer(capacity=10_000)
    hub.relay = relay = Relay(hub, layer, layers.submit)
    yield relay
    hub.relay = None


async def _other_process_sends(relay: Relay, change: Change) -> None:
    await relay.layer.group_send(group_name(change.stream, change.group_id),
                                 {**relay.message(change), "origin": "another-process"})


@pytest.mark.django_db(transaction=True)
async def test_each_change_reaches_a_socket_once_across_the_local_and_remote_paths(relay):
    client = await Client().connect()
    await client.join("chatMessage", "room")
    await client.join("chatMessage", "room", "m1")  # two matching subscriptions: still once per frame
    await client.next(), await client.next()
    assert relay.channel is not None  # the process channel joined the group once
    sent: list[str] = []
    original = relay.layer.group_send

    async def counting_group_send(group, message):
        if message["origin"] == process_origin():
            sent.append(message["id"])
        await original(group, message)

    relay.layer.group_send = counting_group_send
    await streams.chatMessage.aset("room", "m1", chat("m1", "local"))  # ours: local delivery, echo skipped
    await _other_process_sends(relay, Change("chatMessage", "room", "m2",
                                             {"type": "create", "data": chat("m2", "remote")}, 10**13))
    frames = [await client.next(), await client.next()]
    assert [f["event"]["data"]["message"] for f in frames] == ["local", "remote"]
    assert sent == ["m1"]  # one layer message for the change, whatever the number of local sockets
    await client.fence("chatMessage", "room")  # and nothing twice
    await client.close()
    await relay.close()


@pytest.mark.django_db(transaction=True)
def test_a_failing_layer_does_not_fail_the_committed_write(caplog):
    class Broken(InMemoryChannelLayer):
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    hub.relay = Relay(hub, Broken(), layers.submit)
    try:
        item = streams.chatMessage.set("room", "m", chat("m"))
    finally:
        hub.relay = None
    assert item["id"] == "m" and streams.chatMessage.get("room", "m") == chat("m")
    assert "Could not broadcast" in caplog.text


@pytest.mark.django_db(transaction=True)
async def test_the_audit_resyncs_a_group_whose_last_change_was_lost(relay):
    from asgiref.sync import sync_to_async

    from motia_django.encoding import encode

    client = await Client().connect()
    await client.join("chatMessage", "lost")
    assert (await client.next())["event"] == {"type": "sync", "data": []}
    stream = streams.chatMessage
    # another process's write, whose pub/sub message never arrives: stored, numbered, never delivered
    await sync_to_async(stream.backend.set)("chatMessage", "lost", "m1", chat("m1"), encode(chat("m1")))
    assert await relay.audit() == []  # ahead once: it may still be on its way
    assert await relay.audit() == [("chatMessage", "lost")]  # still ahead: lost
    resync = await client.next()
    assert resync["event"] == {"type": "sync", "data": [chat("m1")]}
    assert await relay.audit() == [] and await relay.audit() == []  # caught up: no resync loop
    await client.fence("chatMessage", "lost")
    await client.close()
    await relay.close()
