"""motia_django.testing, the helpers a project's own tests use: the stream communicator, running pending events,
capturing broadcast changes."""

from __future__ import annotations

import pytest
from django.db import transaction

from motia_django import emit, streams
from motia_django.models import Event
from motia_django.testing import StreamCommunicator, capture_changes, run_pending_events
from tests.support.realtime import chat
from tests.support.steps import flow_steps  # noqa: F401 - fixture


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_communicator_speaks_the_stream_protocol():
    client = StreamCommunicator()
    connected, _ = await client.connect()
    assert connected
    sub = await client.join("chatMessage", "room-t")
    assert await client.expect_sync() == []
    item = await client.join("chatMessage", "room-t", "m1")
    assert await client.expect_sync() is None
    await streams.chatMessage.aset("room-t", "m1", chat("m1", "one"))
    assert await client.expect_create() == chat("m1", "one")  # once, though two subscriptions match
    await streams.chatMessage.aset("room-t", "m1", chat("m1", "two"))
    assert (await client.expect_update())["message"] == "two"
    await streams.chatMessage.asend({"groupId": "room-t"}, {"type": "typing", "data": {"u": 1}})
    assert await client.expect_event("typing") == {"type": "typing", "data": {"u": 1}}
    await client.leave("chatMessage", "room-t", item, "m1")
    await streams.chatMessage.adelete("room-t", "m1")
    assert (await client.expect_delete())["id"] == "m1"
    await client.join("nope", "room-t")
    assert await client.expect_error() == "STREAM_NOT_FOUND"
    await client.leave("chatMessage", "room-t", sub)
    assert await client.receive_nothing(0.1)
    await client.disconnect()


@pytest.mark.django_db(transaction=True)
def test_capture_changes_sees_only_committed_changes():
    with capture_changes() as seen:
        streams.chatMessage.set("room-c", "a", chat("a"))
        with pytest.raises(RuntimeError), transaction.atomic():
            streams.chatMessage.set("room-c", "b", chat("b"))
            raise RuntimeError("rolled back")
    assert [(c.type, c.id) for c in seen] == [("create", "a")]


@pytest.mark.django_db
@pytest.mark.usefixtures("flow_steps")
def test_run_pending_events_runs_a_chain_of_emits():
    emit({"topic": "tests.ping", "data": {"n": 1}})
    assert run_pending_events() == 2  # Ping, then the Pong it emitted
    assert set(Event.objects.values_list("status", flat=True)) == {"done"}
