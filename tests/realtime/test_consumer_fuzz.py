"""No client frame can hurt its socket (docs/protocol.md, "Errors"), found by property-based testing.

Each example connects a socket with one valid group subscription, sends one hostile frame (any text, any JSON
value, join/leave frames with fields of any type, very deep nesting, huge or invalid ids), and then checks:
the socket is still open, its valid subscription still receives a change, and no frame other than an error
event ever arrives for a group it never joined. ``MOTIA_FUZZ_EXAMPLES`` sets how many (CI runs the default;
``bench/fuzz_frames.py`` sends 100,000 frames over a real socket).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia_django.stream.registry import streams
from motia_django.testing import StreamCommunicator
from tests.support.realtime import chat, reset_layers

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("MOTIA_FUZZ_EXAMPLES", "150"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
names = st.one_of(
    st.sampled_from(["chatMessage", "openai", "private", "nope", ""]),
    st.text(max_size=12),
    st.builds(lambda n: "x" * n, st.integers(min_value=250, max_value=10_000)),
    json_values,
)
subscription_data = st.fixed_dictionaries({}, optional={
    "streamName": names, "groupId": names, "id": names, "subscriptionId": names,
})
hostile_frames = st.one_of(
    st.text(max_size=200),
    st.builds(json.dumps, json_values),
    st.builds(lambda t, d: json.dumps({"type": t, "data": d}),
              st.sampled_from(["join", "leave", "dance"]) | json_values, subscription_data | json_values),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(min_value=500, max_value=5_000)),
    st.builds(lambda n: '{"a":' * n + "1" + "}" * n, st.integers(min_value=500, max_value=3_000)),
    st.just('{"type":"join","data":{"streamName":"chatMessage","groupId":"\\ud800","subscriptionId":"s"}}'),
)


async def _survives(frame: str) -> None:
    room = f"fuzz-{uuid.uuid4().hex[:8]}"
    client = StreamCommunicator()
    connected, _ = await client.connect()
    assert connected
    await client.join("chatMessage", room)
    assert await client.expect_sync() == []
    await client.send_input({"type": "websocket.receive", "text": frame})  # any text, even empty
    joined = {("chatMessage", room)}
    await streams.chatMessage.aset(room, "m", chat("m", "after"))
    while True:  # every frame until our change: syncs of joins the hostile frame made, error events, the change
        got = await client.receive_frame(timeout=5)
        key = (got["streamName"], got["groupId"])
        event = got["event"]
        if event["type"] == "sync":
            joined.add(key)
            continue
        if event["type"] == "event" and event["event"]["type"] == "error":
            continue
        assert key in joined, f"a frame of a group never joined: {got}"
        if key == ("chatMessage", room) and event["type"] == "create":
            assert event["data"] == chat("m", "after")
            break
    await client.disconnect()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=hostile_frames)
def test_no_frame_hurts_its_socket(frame: str) -> None:
    reset_layers()
    asyncio.run(_survives(frame))


def test_frames_that_once_closed_or_silenced_sockets() -> None:
    """Kinds found earlier: wrongly typed fields, very deep JSON, unpaired surrogates, oversized names."""
    cases: list[Any] = [
        {"type": "join", "data": {"streamName": ["chatMessage"], "groupId": {"a": 1}, "subscriptionId": 3}},
        {"type": "leave", "data": {"subscriptionId": {"x": []}}},
        {"type": "join", "data": {"streamName": "chatMessage", "groupId": "g", "id": 7, "subscriptionId": "s"}},
        {"type": ["join"], "data": None},
    ]
    frames = [json.dumps(c) for c in cases] + ["[" * 100_000 + "]" * 100_000, '"\\udfff"',
                                               json.dumps({"type": "join", "data": {"streamName": "x" * 10_000}})]
    for frame in frames:
        reset_layers()
        asyncio.run(_survives(frame))
