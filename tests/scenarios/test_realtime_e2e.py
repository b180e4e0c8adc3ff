"""End to end: a real Daphne server (example_project.asgi) and Motia's real browser stream client
(@motiadev/stream-client-browser, pinned in tests/js) run by Node; raw frames with the ``websockets`` package.

Writes happen inside the server process through test-only endpoints (tests/live_urls.py), or in a third
process (``manage.py shell``) while the server is down.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.realtime import NodeClient, chat, ensure_stream_client, write
from tests.support.server import LiveServer, base_env, manage

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def _stream_client() -> None:
    ensure_stream_client()


def is_event(name: str, type: str) -> Any:
    return lambda e: e["kind"] == "event" and e["name"] == name and e["type"] == type


def test_group_and_item_subscriptions_with_the_real_client(daphne_server):
    server = daphne_server
    write(server, "set", stream="chatMessage", group="e2e", id="a", data=chat("a", "first"))
    with NodeClient(server.ws_url) as client:
        client.wait_for(lambda e: e["kind"] == "open")
        client.group("g", "chatMessage", "e2e", events=["typing", "fence"])
        client.item("i", "chatMessage", "e2e", "b", events=["typing", "fence"])
        client.wait_state("g", [chat("a", "first")])  # group sync
        client.wait_for(lambda e: e["kind"] == "state" and e["name"] == "i" and e["state"] is None)

        write(server, "set", stream="chatMessage", group="e2e", id="b", data=chat("b"))  # create
        client.wait_state("g", [chat("a", "first"), chat("b")])
        client.wait_state("i", chat("b"))
        write(server, "update", stream="chatMessage", group="e2e", id="b",
              ops=[{"type": "set", "path": "message", "value": "edited"}])  # update
        client.wait_state("g", [chat("a", "first"), chat("b", "edited")])
        client.wait_state("i", chat("b", "edited"))

        # once per socket: an item-level event reaches the socket once although the group and the item both match
        write(server, "send", stream="chatMessage", channel={"groupId": "e2e", "id": "b"},
              event={"type": "typing", "data": {"user": "u1"}})
        write(server, "send", stream="chatMessage", channel={"groupId": "e2e"}, event={"type": "fence", "data": {}})
        client.wait_for(is_event("g", "fence"))
        assert client.count(is_event("g", "typing")) == 1
        assert client.count(is_event("i", "typing")) == 1
        assert client.wait_for(is_event("g", "typing"))["data"] == {"user": "u1"}

        write(server, "delete", stream="chatMessage", group="e2e", id="b")  # delete
        client.wait_state("g", [chat("a", "first")])
        client.wait_state("i", None)

        # ORM saves are broadcast; a rolled-back write is not
        write(server, "rollback", stream="chatMessage", group="e2e", id="ghost", data=chat("ghost"))
        write(server, "orm_save", stream="chatMessage", group="e2e", id="c", data=chat("c"))
        client.wait_state("g", [chat("a", "first"), chat("c")])
        write(server, "orm_delete", stream="chatMessage", group="e2e", id="c")
        client.wait_state("g", [chat("a", "first")])
        assert not any(e["kind"] == "state" and "ghost" in json.dumps(e["state"]) for e in client.events)

        # leaving: the item subscription's close() sends leave; nothing more reaches it
        client.command("close", name="i")
        write(server, "set", stream="chatMessage", group="e2e", id="b", data=chat("b", "after leave"))
        client.wait_state("g", [chat("a", "first"), chat("b", "after leave")])
        assert client.state("i") is None


def test_two_writes_in_the_same_millisecond_both_arrive(daphne_server):
    with NodeClient(daphne_server.ws_url) as client:
        client.group("g", "chatMessage", "same-ms")
        client.item("i", "chatMessage", "same-ms", "m")
        client.wait_state("g", [])
        client.wait_for(lambda e: e["kind"] == "state" and e["name"] == "i")
        write(daphne_server, "set", stream="chatMessage", group="same-ms", id="m", data=chat("m", "zero"))
        client.wait_state("i", chat("m", "zero"))
        write(daphne_server, "same_ms", stream="chatMessage", group="same-ms", id="m",
              data=[chat("m", "one"), chat("m", "two")])
        client.wait_state("i", chat("m", "two"))  # the second write is not dropped for its timestamp
        client.wait_state("g", [chat("m", "two")])
        seen = [e["state"]["message"] for e in client.events if e["kind"] == "state" and e["name"] == "i"
                and e["state"]]
        assert seen in (["zero", "one", "two"], ["zero", "two"])  # "one" may be superseded while still queued


def test_auth_token_subprotocol_and_access_denied(daphne_server):
    with NodeClient(daphne_server.ws_url, protocols=["Authorization", "alice-token"]) as client:
        assert client.wait_for(lambda e: e["kind"] == "open")["protocol"] == "Authorization"
        client.group("mine", "private", "alice")
        client.group("theirs", "private", "bob")
        client.wait_state("mine", [])
        denied = client.wait_for(is_event("theirs", "error"))
        assert denied["data"] == {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"}
        write(daphne_server, "set", stream="private", group="bob", id="x", data={"secret": 1})
        write(daphne_server, "set", stream="private", group="alice", id="y", data={"mine": 1})
        client.wait_state("mine", [{"id": "y", "mine": 1}])
        assert client.state("theirs") is None


def test_refused_connection_and_query_token(daphne_server):
    with pytest.raises(InvalidStatus) as refused:
        connect(daphne_server.ws_url, subprotocols=["Authorization", "refuse-401"], open_timeout=10)
    assert refused.value.response.status_code in (401, 403)  # Daphne can only answer 403
    with connect(f"{daphne_server.ws_url}/?authToken=bob-token", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "join", "data": {"streamName": "private", "groupId": "bob",
                                                     "subscriptionId": "s"}}))
        frame = json.loads(ws.recv(timeout=10))
        assert frame["groupId"] == "bob" and frame["event"]["type"] == "sync"  # bob may read bob's group


def test_bad_frames_never_close_the_socket(daphne_server):
    """Bad frames (docs/protocol.md, "Errors") with raw frames over a real server, on the documented alternative path."""
    with connect(f"{daphne_server.ws_url}/motia/streams/", subprotocols=["Authorization", "x"],
                 open_timeout=10) as ws:
        assert ws.subprotocol == "Authorization"
        join = {"type": "join", "data": {"streamName": "chatMessage", "groupId": "raw", "subscriptionId": "s1"}}
        ws.send(json.dumps(join))
        assert json.loads(ws.recv(timeout=10))["event"]["type"] == "sync"
        for bad in ["not json", "[]", "{}", json.dumps({"type": "join"}), b"\x00binary",
                    json.dumps({"type": "join", "data": {"streamName": "nope", "groupId": "raw", "subscriptionId": "2"}}),
                    "x" * (64 * 1024 + 1)]:
            ws.send(bad)
        error = json.loads(ws.recv(timeout=10))
        assert error["streamName"] == "nope" and error["event"]["event"]["data"]["code"] == "STREAM_NOT_FOUND"
        write(daphne_server, "set", stream="chatMessage", group="raw", id="m", data=chat("m"))
        frame = json.loads(ws.recv(timeout=10))
        assert frame["event"] == {"type": "create", "data": chat("m")} and frame["id"] == "m"


def test_restart_then_reconnect_and_resync(live_db_url, tmp_path):
    """The client reconnects after a server restart and resyncs, including changes made while it was down
    (by a third process) and a delete of the group's newest item."""
    env = base_env(live_db_url)
    server = LiveServer(env, log_dir=tmp_path)
    with server, NodeClient(server.ws_url) as client:
        write(server, "set", stream="chatMessage", group="restart", id="a", data=chat("a"))
        write(server, "set", stream="chatMessage", group="restart", id="b", data=chat("b"))
        client.group("g", "chatMessage", "restart")
        client.item("i", "chatMessage", "restart", "a")
        client.wait_state("g", [chat("a"), chat("b")])
        write(server, "update", stream="chatMessage", group="restart", id="b",
              ops=[{"type": "set", "path": "message", "value": "newest"}])
        client.wait_state("g", [chat("a"), chat("b", "newest")])
        client.wait_state("i", chat("a"))

        server.stop()
        mark = len(client.events)
        client.wait_for(lambda e: e["kind"] == "close", since=mark)
        manage(env, "shell", "-c", (
            "from motia_django.stream.registry import streams\n"
            "streams.chatMessage.delete('restart', 'b')\n"
            "streams.chatMessage.set('restart', 'a', {'id': 'a', 'user_id': 'u1', 'message': 'while down', "
            "'timestamp': '2025-01-01T00:00:00Z'})\n"
            "streams.chatMessage.set('restart', 'c', {'id': 'c', 'user_id': 'u1', 'message': 'hi', "
            "'timestamp': '2025-01-01T00:00:00Z'})\n"
        ))
        server.start()
        client.wait_for(lambda e: e["kind"] == "open", since=mark, timeout=20)
        client.wait_state("g", [chat("a", "while down"), chat("c")], timeout=20)
        client.wait_state("i", chat("a", "while down"), timeout=20)
        write(server, "set", stream="chatMessage", group="restart", id="d", data=chat("d"))
        client.wait_state("g", [chat("a", "while down"), chat("c"), chat("d")])


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_a_stalled_client_is_disconnected_and_server_memory_stays_bounded(live_db_url, tmp_path, kind):
    """A client that stops reading: past SEND_QUEUE_LIMIT queued frames the socket is closed instead of the
    server buffering without bound. (uvicorn's ``send`` waits for the socket; Daphne's never does, so the
    consumer watches Twisted's write buffer.)"""
    server = LiveServer(base_env(live_db_url, MOTIA_TEST_SEND_QUEUE_LIMIT="20"), log_dir=tmp_path, server=kind)
    with server, socket.socket() as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", server.port))
        raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        response = b""
        while b"\r\n\r\n" not in response:
            response += raw.recv(1)
        assert response.startswith(b"HTTP/1.1 101")
        join = json.dumps({"type": "join", "data": {"streamName": "chatMessage", "groupId": "stall",
                                                    "subscriptionId": "s"}}).encode()
        mask = b"\x01\x02\x03\x04"
        raw.sendall(bytes([0x81, 0x80 | len(join)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(join)))
        # the client reads nothing from now on; the server produces ~10 MB for it
        write(server, "send_many", stream="chatMessage", channel={"groupId": "stall"}, count=500,
              event={"type": "blob", "data": {"blob": "x" * 20_000}})
        deadline = time.monotonic() + 20
        while "fell 20 frames behind" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)


def test_refusal_is_401_under_uvicorn(live_db_url, tmp_path):
    """Servers with the WebSocket denial-response extension (uvicorn) answer the hook's 401/403 exactly."""
    with LiveServer(base_env(live_db_url), log_dir=tmp_path, server="uvicorn") as server:
        for token, status in [("refuse-401", 401), ("refuse-403", 403)]:
            with pytest.raises(InvalidStatus) as refused:
                connect(f"{server.ws_url}/?authToken={token}", open_timeout=10)
            assert refused.value.response.status_code == status
        with connect(server.ws_url, subprotocols=["Authorization", "alice-token"], open_timeout=10) as ws:
            assert ws.subprotocol == "Authorization"
