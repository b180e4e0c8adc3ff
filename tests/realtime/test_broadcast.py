"""The broadcaster: committed changes to the hub (and through it to the relay), after commit only."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connection
from django.test import override_settings

from motia_django.realtime import broadcast
from motia_django.realtime.hub import hub
from motia_django.stream.changes import stream_changed
from motia_django.stream.registry import streams
from tests.support.realtime import Client, chat

pytestmark = pytest.mark.usefixtures("fresh_layers")


@pytest.mark.django_db(transaction=True)
def test_no_channel_layer_configured_is_not_an_error():
    with override_settings(CHANNEL_LAYERS={}):
        from channels.layers import channel_layers

        channel_layers.backends.clear()
        assert streams.chatMessage.set("room", "m", chat("m"))["id"] == "m"


def test_connected_once_and_no_relay_for_the_in_memory_layer():
    receivers = [r for r in stream_changed.receivers if r[0][0] == broadcast._DISPATCH_UID]
    assert len(receivers) == 1
    assert hub.relay is None  # one process: nothing to carry to others


@pytest.mark.django_db(transaction=True)
async def test_writes_from_a_plain_thread_reach_sockets_on_the_server_loop_in_order():
    """The in-process event runner writes from its own thread: delivery happens on the sockets' loop, in order,
    and the writer does not wait for it."""
    client = await Client().connect()
    await client.join("chatMessage", "room")
    assert (await client.next())["event"] == {"type": "sync", "data": []}
    loops = []
    original = hub.deliver

    def recording_deliver(frame):
        loops.append(asyncio.get_running_loop())
        original(frame)

    hub.deliver = recording_deliver  # type: ignore[method-assign]
    try:
        def writes():
            for i in range(20):
                streams.chatMessage.set("room", "m", chat("m", str(i)))
            connection.close()

        thread = threading.Thread(target=writes)
        thread.start()
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        frames = [await client.next()]
        while frames[-1]["event"]["data"]["message"] != "19":
            frames.append(await client.next())
    finally:
        del hub.deliver
    # In order, ending on the last state; a queued update may be superseded by a newer one (never reordered).
    assert [f["event"]["type"] for f in frames] == ["create"] + ["update"] * (len(frames) - 1)
    messages = [int(f["event"]["data"]["message"]) for f in frames]
    assert messages == sorted(messages) and messages[0] == 0 and messages[-1] == 19
    assert loops == [asyncio.get_running_loop()] * 20
    await client.close()
