"""motia_django.client.frames: URL checks, server frames read (or ignored) and notifications as JSON; what
the client accepts from a user and from the wire."""

from __future__ import annotations

import json

import pytest

from motia_django.client import EphemeralEvent, Notification, StreamClient
from motia_django.exceptions import InvalidStreamURL, MotiaError
from tests.client.helpers import fast, frame, until


@pytest.mark.parametrize(("url", "message"), [
    ("http://127.0.0.1:3000", "the stream WebSocket of that server is ws://127.0.0.1:3000"),
    ("https://example.com/", "wss://example.com/"),
    ("127.0.0.1:3000", "not a WebSocket URL"),
    ("ftp://host", "not a WebSocket URL"),
    ("ws://", "has no host"),
    ("ws://host:99999", "not a valid URL"),
])
def test_a_bad_url_is_refused_before_connecting(url, message):
    with pytest.raises(InvalidStreamURL, match=message) as refused:
        StreamClient(url)
    assert isinstance(refused.value, MotiaError) and isinstance(refused.value, ValueError)


async def test_as_dict_is_what_tail_prints():
    change = Notification("create", "chat", "room", "m1", 7, [{"id": "m1"}], item={"id": "m1"})
    assert change.as_dict() == {"type": "create", "stream": "chat", "groupId": "room", "id": "m1", "timestamp": 7,
                                "data": {"id": "m1"}}
    sync = Notification("sync", "chat", "room", None, 8, [{"id": "m1"}], resync=True)
    assert sync.as_dict() == {"type": "sync", "stream": "chat", "groupId": "room", "timestamp": 8,
                              "data": [{"id": "m1"}], "resync": True}
    event = Notification("event", "chat", "room", None, 9, [], event=EphemeralEvent("typing", {"u": 1}))
    assert event.as_dict()["event"] == {"type": "typing", "data": {"u": 1}}
    json.dumps([change.as_dict(), sync.as_dict(), event.as_dict()])


async def test_frames_that_are_not_the_protocols_are_ignored(fake):
    async with fast() as client:
        group = client.group("chat", "room")
        await until(lambda: fake.socket.messages("join"))
        for junk in ["not json", b"\x00binary", "[]", json.dumps({"event": {"type": "sync"}}),
                     json.dumps({**frame("sync", [], ts=1), "timestamp": "soon"}),
                     json.dumps(frame("event", ts=1, event={"no": "type"}))]:
            fake.socket.feed(junk)
        fake.socket.feed(frame("sync", [], ts=5))
        assert (await group).state == []
        assert client.connected
