"""motia_django.client.connection: StreamClient connects, joins, reconnects and dispatches frames; a script's
view of the server is only as good as this (a fake socket, then a real Daphne and uvicorn)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from motia_django.client import EphemeralEvent, StreamClient
from motia_django.client import connection as client_module
from motia_django.exceptions import (
    StreamAuthError,
    StreamClientError,
    StreamConnectionError,
    StreamJoinRefused,
    StreamTimeout,
    StreamValidationError,
)
from tests.client.helpers import _take, error, fast, frame, unique, until
from tests.support.realtime import chat, write
from tests.support.server import LiveServer, base_env, free_port, manage

# --- arguments ----------------------------------------------------------------------------------------------


def test_a_token_a_subprotocol_cannot_carry_is_refused():
    with pytest.raises(StreamClientError, match="authToken"):
        StreamClient("ws://h", token="has spaces, and a comma")


async def test_subscribing_needs_a_connection_and_valid_keys(fake):
    client = fast()
    with pytest.raises(StreamClientError, match="not connected"):
        client.group("chat", "room")
    async with client:
        with pytest.raises(StreamValidationError, match="group id must not be empty"):
            client.group("chat", "")
        with pytest.raises(StreamValidationError, match="item id is longer than 255"):
            client.item("chat", "room", "x" * 256)
        await until(lambda: True)
        assert fake.socket.messages("join") == []  # nothing was sent for them
    with pytest.raises(StreamClientError):
        await client.connect()  # a client is used once


# --- joins, state and changes over the fake socket -----------------------------------------------------------


async def test_joins_sync_changes_and_events(fake):
    async with fast(token="secret") as client:
        assert fake.socket.options["subprotocols"] == ["Authorization", "secret"]
        group = client.group("chat", "room")
        item = client.item("chat", "room", "m1")
        await until(lambda: len(fake.socket.messages("join")) == 2)
        g_join, i_join = fake.socket.messages("join")
        assert g_join == {"streamName": "chat", "groupId": "room", "subscriptionId": group.subscription_id}
        assert i_join == {"streamName": "chat", "groupId": "room", "id": "m1",
                          "subscriptionId": item.subscription_id}
        assert not group.synced

        fake.socket.feed(frame("sync", [{"id": "m0", "text": "old"}], ts=100))
        fake.socket.feed(frame("sync", None, ts=50, id="m1"))
        assert await group is group and await item.ready() is item
        assert group.state == [{"id": "m0", "text": "old"}] and item.state is None

        fake.socket.feed(frame("create", {"id": "m1", "text": "hi"}, ts=101, id="m1"))
        fake.socket.feed(frame("update", {"id": "m1", "text": "edited"}, ts=102, id="m1"))
        fake.socket.feed(frame("event", ts=103, id="m1", event={"type": "typing", "data": {"user": "u1"}}))
        fake.socket.feed(frame("event", ts=104, event={"type": "ping", "data": None}))  # group-level
        fake.socket.feed(frame("delete", {"id": "m0", "text": "old"}, ts=105, id="m0"))

        seen = [await group.next(2) for _ in range(6)]
        assert [c.type for c in seen] == ["sync", "create", "update", "event", "event", "delete"]
        assert seen[1].item == {"id": "m1", "text": "hi"} and seen[1].id == "m1"
        assert seen[3].event == EphemeralEvent("typing", {"user": "u1"}) and seen[4].event == EphemeralEvent("ping", None)
        assert seen[5].state == group.state == [{"id": "m1", "text": "edited"}]
        assert seen[0].state == [{"id": "m0", "text": "old"}] and not seen[0].resync

        items = [await item.next(2) for _ in range(4)]
        assert [c.type for c in items] == ["sync", "create", "update", "event"]  # group-level ping: not the item's
        assert item.state == {"id": "m1", "text": "edited"}
        with pytest.raises(StreamTimeout, match="no change on chat/room/m1"):
            await item.next(0.05)

        await item.close()
        await until(lambda: fake.socket.messages("leave") == [i_join])
        assert [c async for c in item] == []  # a closed subscription's iteration ends
    assert fake.socket.messages("leave")[-1] == g_join  # leaving on exit of ``async with``
    assert not client.connected


async def test_a_refused_join_raises_and_finds_its_subscription(fake):
    """Errors carry no id: an error answers the oldest join waiting on its stream and group."""
    async with fast() as client:
        item = client.item("chat", "room", "secret")
        group = client.group("chat", "room")
        other = client.group("chat", "other")
        await until(lambda: len(fake.socket.messages("join")) == 3)
        fake.socket.feed(error("STREAM_ACCESS_DENIED"))  # answers the item join, the oldest on chat/room
        fake.socket.feed(frame("sync", [], ts=10, group="other"))
        fake.socket.feed(frame("sync", [], ts=10))
        with pytest.raises(StreamJoinRefused) as refused:
            await item
        assert refused.value.code == "STREAM_ACCESS_DENIED" and refused.value.id == "secret"
        assert "chat/room/secret was refused: STREAM_ACCESS_DENIED" in str(refused.value)
        assert (await group).state == [] and (await other).state == []
        assert item.closed and item not in client.subscriptions
        with pytest.raises(StreamJoinRefused):
            await item.next(1)

        # with no join waiting, an error event is an event of the group (as in Motia's client)
        fake.socket.feed(error("SOMETHING", ts=11))
        await group.next(1)  # its sync
        assert (await group.next(1)).event == EphemeralEvent("error", {"code": "SOMETHING", "message": "something"})


@pytest.mark.parametrize("code", ["STREAM_NOT_FOUND", "INVALID_MESSAGE", "TOO_MANY_SUBSCRIPTIONS", "SYNC_FAILED"])
async def test_every_error_code_refuses_the_join(fake, code):
    async with fast() as client:
        sub = client.group("chat", "room")
        await until(lambda: fake.socket.messages("join"))
        fake.socket.feed(error(code))
        with pytest.raises(StreamJoinRefused) as refused:
            await sub.ready()
        assert refused.value.code == code and refused.value.message == code.lower()


async def test_a_join_closed_before_its_answer_keeps_its_place(fake):
    """A subscription closed before its answer still owns that answer, so a refusal of it is not blamed on a
    later join on the same group."""
    async with fast() as client:
        first = client.group("chat", "room")
        await first.close()
        second = client.group("chat", "room")
        await until(lambda: len(fake.socket.messages("join")) == 2)
        fake.socket.feed(error("STREAM_ACCESS_DENIED"))  # the first join's answer
        fake.socket.feed(frame("sync", [{"id": "a"}], ts=3))
        assert (await second).state == [{"id": "a"}]


# --- reconnecting --------------------------------------------------------------------------------------------


async def test_reconnect_rejoins_and_the_fresh_sync_replaces_the_state(fake):
    hooks: list[str] = []

    async def async_hook(client: StreamClient) -> None:
        hooks.append("async")

    async with fast(on_reconnect=lambda client: hooks.append("sync")) as client:
        client.on_reconnect(async_hook)
        group = client.group("chat", "room")
        item = client.item("chat", "room", "a")
        await until(lambda: len(fake.socket.messages("join")) == 2)
        first = fake.socket
        first.feed(frame("sync", [{"id": "a", "v": 1}, {"id": "b"}], ts=1000))
        first.feed(frame("sync", {"id": "a", "v": 1}, ts=900, id="a"))
        first.feed(frame("update", {"id": "a", "v": 2}, ts=1001, id="a"))
        await group.wait_for(lambda s: bool(s) and s[0]["v"] == 2, timeout=2)

        first.drop()
        await until(lambda: len(fake.sockets) == 2 and len(fake.socket.messages("join")) == 2)
        second = fake.socket
        assert second.messages("join") == first.messages("join")  # the same subscriptions, same ids
        await client.wait_connected(2)
        assert client.connected and client.reconnects == 1
        await until(lambda: sorted(hooks) == ["async", "sync"])

        # while it was down, b was deleted and a was deleted; a server whose clock is behind answers
        second.feed(frame("sync", [], ts=500))
        second.feed(frame("sync", None, ts=400, id="a"))
        await group.wait_for(lambda s: s == [], timeout=2)
        await item.wait_for(lambda s: s is None, timeout=2)
        syncs = [c async for c in _take(group, 5) if c.type == "sync"]
        assert [c.resync for c in syncs] == [False, True]


async def test_subscriptions_made_while_down_are_joined_on_reconnect(fake):
    async with fast() as client:
        fake.failures = [OSError(111, "Connection refused")] * 10
        fake.socket.drop()
        await until(lambda: not client.connected)
        sub = client.group("chat", "later")
        await until(lambda: len(fake.sockets) == 2 and fake.socket.messages("join"), timeout=5)
        assert fake.socket.messages("join") == [{"streamName": "chat", "groupId": "later",
                                                 "subscriptionId": sub.subscription_id}]
        fake.socket.feed(frame("sync", [], ts=1, group="later"))
        assert (await sub).synced


async def test_a_refused_handshake_on_reconnect_ends_everything(fake):
    async with fast() as client:
        group = client.group("chat", "room")
        await until(lambda: fake.socket.messages("join"))
        fake.socket.feed(frame("sync", [], ts=1))
        await group
        fake.failures = [OSError(111, "Connection refused"), InvalidStatus(Response(401, "Unauthorized", Headers()))]
        fake.socket.drop()
        await until(lambda: client.error is not None)
        assert isinstance(client.error, StreamAuthError) and client.error.status == 401
        assert len(fake.sockets) == 1  # not retried after the 401
        assert (await group.next(1)).type == "sync"  # what had arrived is still handed out, then the error
        with pytest.raises(StreamAuthError, match="HTTP 401"):
            await group.next(1)
        with pytest.raises(StreamAuthError):
            client.group("chat", "room")
        with pytest.raises(StreamAuthError):
            await client.wait_connected(1)


async def test_without_reconnect_a_drop_ends_the_subscriptions(fake):
    async with fast(reconnect=False) as client:
        group = client.group("chat", "room")
        await until(lambda: fake.socket.messages("join"))
        fake.socket.drop()
        with pytest.raises(StreamConnectionError, match="reconnect is off"):
            await group.ready(2)


@pytest.mark.parametrize(("failure", "raised", "message"), [
    (OSError(111, "Connect call failed"), StreamConnectionError, "Connection refused; is the server running"),
    (TimeoutError(), StreamConnectionError, "no answer within"),
    (InvalidStatus(Response(403, "Forbidden", Headers())), StreamAuthError, "HTTP 403"),
    (InvalidStatus(Response(404, "Not Found", Headers())), StreamConnectionError, "HTTP 404 instead of a WebSocket"),
])
async def test_the_first_connection_is_not_retried(fake, failure, raised, message):
    fake.failures = [failure]
    with pytest.raises(raised, match=message):
        await fast().connect()
    assert fake.sockets == []


# --- end to end: a real Daphne -------------------------------------------------------------------------------


async def wrote(server: Any, op: str, **body: Any) -> Any:
    return await asyncio.to_thread(write, server, op, **body)


@pytest.mark.e2e
async def test_item_and_group_against_a_real_server(daphne_server):
    room = unique("room")
    await wrote(daphne_server, "set", stream="chatMessage", group=room, id="a", data=chat("a", "first"))
    async with StreamClient(daphne_server.ws_url) as client:
        group = await client.group("chatMessage", room)
        item = await client.item("chatMessage", room, "b")
        assert group.state == [chat("a", "first")] and item.state is None

        await wrote(daphne_server, "set", stream="chatMessage", group=room, id="b", data=chat("b"))
        await wrote(daphne_server, "update", stream="chatMessage", group=room, id="b",
                    ops=[{"type": "set", "path": "message", "value": "edited"}])
        await wrote(daphne_server, "send", stream="chatMessage", channel={"groupId": room, "id": "b"},
                    event={"type": "typing", "data": {"user": "u1"}})
        await wrote(daphne_server, "delete", stream="chatMessage", group=room, id="a")

        changes = [await group.next(10) for _ in range(5)]
        assert [(c.type, c.id) for c in changes] == [("sync", None), ("create", "b"), ("update", "b"),
                                                    ("event", "b"), ("delete", "a")]
        assert changes[3].event == EphemeralEvent("typing", {"user": "u1"})
        assert changes[4].item == chat("a", "first")
        assert group.state == [chat("b", "edited")]
        item_changes = [await item.next(10) for _ in range(4)]
        assert [c.type for c in item_changes] == ["sync", "create", "update", "event"]
        assert item.state == chat("b", "edited")
        assert all(b.timestamp > a.timestamp for a, b in itertools.pairwise(item_changes))

        # leaving: nothing more reaches the closed subscription; the group still hears
        await item.close()
        await wrote(daphne_server, "set", stream="chatMessage", group=room, id="b", data=chat("b", "after"))
        await group.wait_for(lambda s: s == [chat("b", "after")], timeout=10)
        assert item.state == chat("b", "edited")


@pytest.mark.e2e
async def test_refused_joins_against_a_real_server(daphne_server, monkeypatch):
    async with StreamClient(daphne_server.ws_url) as client:
        with pytest.raises(StreamJoinRefused) as missing:
            await client.group("nope", "room")
        assert missing.value.code == "STREAM_NOT_FOUND"
        with pytest.raises(StreamJoinRefused) as denied:
            await client.group("private", "bob")  # no token: bob's group is bob's only (tests/live_access.py)
        assert denied.value.code == "STREAM_ACCESS_DENIED"
        public = await client.group("private", "public")
        assert public.state == [] and client.connected
        # the server's INVALID_MESSAGE, which the client's own key checks normally spare the user
        monkeypatch.setattr(client_module, "validate_key", lambda *args, **kwargs: None)
        with pytest.raises(StreamJoinRefused) as invalid:
            await client.item("chatMessage", "room", "x" * 300)
        assert invalid.value.code == "INVALID_MESSAGE"
        assert client.connected and not public.closed


@pytest.mark.e2e
async def test_a_token_is_offered_like_motias_clients_do(daphne_server):
    async with StreamClient(daphne_server.ws_url, token="alice-token") as client:
        assert (await client.group("private", "alice")).state == []
        with pytest.raises(StreamJoinRefused, match="STREAM_ACCESS_DENIED"):
            await client.group("private", "bob")
    async with StreamClient(f"{daphne_server.ws_url}/?authToken=bob-token") as client:
        assert (await client.group("private", "bob")).synced


@pytest.mark.e2e
async def test_a_refused_handshake_is_an_auth_error(daphne_server):
    started = time.monotonic()
    with pytest.raises(StreamAuthError, match="refused the connection") as refused:
        async with StreamClient(daphne_server.ws_url, token="refuse-401"):
            pass
    assert refused.value.status == 403  # Daphne can only answer 403
    assert time.monotonic() - started < 5


@pytest.mark.e2e
async def test_nothing_listening_is_a_prompt_connection_error():
    url = f"ws://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(StreamConnectionError, match="Connection refused; is the server running"):
        async with StreamClient(url):
            pass
    with pytest.raises(StreamConnectionError, match=r"unknown host|no answer within 3"):  # however slow DNS is
        async with StreamClient("ws://no-such-host.invalid:3000", open_timeout=3):
            pass
    assert time.monotonic() - started < 8


@pytest.mark.e2e
async def test_a_401_under_uvicorn(live_db_url, tmp_path):
    server = LiveServer(base_env(live_db_url), log_dir=tmp_path, server="uvicorn")
    await asyncio.to_thread(server.start)
    try:
        with pytest.raises(StreamAuthError) as refused:
            await StreamClient(server.ws_url, token="refuse-401").connect()
        assert refused.value.status == 401
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.e2e
async def test_a_server_restart_then_the_state_converges(live_db_url, tmp_path):
    """The server stops; a third process (manage.py streams) changes the group while it is down, deleting the
    group's newest item; the server starts again on the same port; the client reconnects and its state is the
    database's, and live changes flow again."""
    env = base_env(live_db_url)
    server = LiveServer(env, log_dir=tmp_path)
    room = unique("restart")
    reconnected = asyncio.Event()
    await asyncio.to_thread(server.start)
    try:
        await wrote(server, "set", stream="chatMessage", group=room, id="a", data=chat("a"))
        await wrote(server, "set", stream="chatMessage", group=room, id="b", data=chat("b"))
        async with StreamClient(server.ws_url, min_backoff=0.2, max_backoff=1.0,
                                on_reconnect=lambda client: reconnected.set()) as client:
            group = await client.group("chatMessage", room)
            item_a = await client.item("chatMessage", room, "a")
            item_b = await client.item("chatMessage", room, "b")
            await wrote(server, "update", stream="chatMessage", group=room, id="b",
                        ops=[{"type": "set", "path": "message", "value": "newest"}])
            await group.wait_for(lambda s: s == [chat("a"), chat("b", "newest")], timeout=10)

            await asyncio.to_thread(server.stop)
            await until(lambda: not client.connected, timeout=10)
            await asyncio.to_thread(manage, env, "streams", "delete", "chatMessage", room, "b")
            await asyncio.to_thread(manage, env, "streams", "set", "chatMessage", room, "a",
                                    json.dumps(chat("a", "while down")))
            await asyncio.to_thread(manage, env, "streams", "set", "chatMessage", room, "c", json.dumps(chat("c")))
            assert group.state == [chat("a"), chat("b", "newest")]  # stale while down, as it must be

            await asyncio.to_thread(server.start)
            await asyncio.wait_for(reconnected.wait(), 20)
            assert client.connected and client.reconnects == 1
            expected = [chat("a", "while down"), chat("c")]
            assert await group.wait_for(lambda s: s == expected, timeout=10) == expected
            await item_a.wait_for(lambda s: s == chat("a", "while down"), timeout=10)
            await item_b.wait_for(lambda s: s is None, timeout=10)
            resyncs = [c async for c in _take(group, 10) if c.type == "sync"]
            assert resyncs[-1].resync and resyncs[-1].state == expected

            await wrote(server, "set", stream="chatMessage", group=room, id="d", data=chat("d"))
            await group.wait_for(lambda s: s == [*expected, chat("d")], timeout=10)
    finally:
        await asyncio.to_thread(server.stop)
