"""motia_django.client.sync: SyncStreamClient, SyncSubscription and connect(), the client for plain scripts,
against a real Daphne."""

from __future__ import annotations

import threading

import pytest

from motia_django.client import SyncStreamClient, connect
from motia_django.exceptions import StreamClientError, StreamConnectionError, StreamJoinRefused
from tests.client.helpers import unique
from tests.support.realtime import chat, write
from tests.support.server import free_port


@pytest.mark.e2e
def test_the_sync_facade(daphne_server):
    room = unique("sync")
    write(daphne_server, "set", stream="chatMessage", group=room, id="a", data=chat("a"))
    script = connect(daphne_server.ws_url)
    assert script.item("chatMessage", room, "a").get() == chat("a")  # connect(url).item(...).get()
    script.close()
    with SyncStreamClient(daphne_server.ws_url) as client:
        assert client.connected
        group = client.group("chatMessage", room)
        assert group.state == [chat("a")]
        write(daphne_server, "set", stream="chatMessage", group=room, id="b", data=chat("b"))
        assert group.wait_for(lambda s: len(s) == 2, timeout=10) == [chat("a"), chat("b")]
        assert [c.type for c in group.changes(timeout=0.5)] == ["sync", "create"]
        with pytest.raises(StreamJoinRefused):
            client.item("nope", room, "a")
        group.close()
        assert list(group.changes(timeout=0.5)) == []
    with pytest.raises(StreamConnectionError):
        SyncStreamClient(f"ws://127.0.0.1:{free_port()}")


def _client_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "motia-stream-client")


def test_a_refused_first_connection_raises_and_stops_the_thread(fake):
    threads = _client_threads()
    fake.failures = [OSError(111, "Connect call failed")]
    with pytest.raises(StreamConnectionError, match="Connection refused; is the server running"):
        SyncStreamClient("ws://fake.test:3000")
    assert fake.sockets == [] and _client_threads() == threads


def test_a_closed_client_refuses_calls_and_closes_once(fake):
    client = connect("ws://fake.test:3000", token="secret")
    assert client.connected and fake.socket.options["subprotocols"] == ["Authorization", "secret"]
    client.close()
    client.close()  # a second close does nothing
    assert fake.socket.close_code == 1000
    with pytest.raises(StreamClientError, match="this SyncStreamClient is closed"):
        client.group("chat", "room")
