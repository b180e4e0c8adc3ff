"""Connection auth (token subprotocol, ?authToken=, session), join checks (canAccess, default policy)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import ApplicationCommunicator
from django.contrib.auth.models import User
from django.test import Client as HttpClient
from django.test import override_settings

from motia_django.realtime.auth import offered_token, trusted_origin
from motia_django.routing import websocket_application
from motia_django.stream.registry import streams
from tests.support import live_access
from tests.support.realtime import Client, close_thread_connections, error_code, reset_layers

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = {"AUTHENTICATE": "tests.support.live_access.authenticate"}


@pytest.fixture(autouse=True)
def _settings():
    reset_layers()
    live_access.seen.clear()
    with override_settings(MOTIA=HOOK, STREAMS=live_access.STREAMS):
        yield
    reset_layers()
    close_thread_connections()


def test_token_sources():
    assert offered_token({"subprotocols": ["Authorization", "t1"]}) == ("t1", "Authorization")
    assert offered_token({"subprotocols": ["Authorization"], "query_string": b"authToken=t2"}) == ("t2", "Authorization")
    assert offered_token({"query_string": b"a=1&authToken=t%2B3"}) == ("t+3", None)
    assert offered_token({"subprotocols": ["graphql-ws"]}) == (None, "graphql-ws")
    assert offered_token({}) == (None, None)


def test_trusted_origin():
    def scope(origin, host=b"example.com"):
        headers = [(b"host", host)] + ([(b"origin", origin)] if origin else [])
        return {"headers": headers}

    assert trusted_origin(scope(None))
    assert trusted_origin(scope(b"https://example.com"))
    assert not trusted_origin(scope(b"https://evil.test"))
    with override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example.com"]):
        assert trusted_origin(scope(b"https://app.example.com"))


async def test_token_in_authorization_subprotocol_is_accepted_with_it():
    client = await Client(subprotocols=["Authorization", "alice-token"]).connect()
    assert client.connected and client.detail == "Authorization"
    assert live_access.seen == [("alice-token", "/")]
    await client.join("private", "alice")
    assert (await client.next())["event"] == {"type": "sync", "data": []}
    await client.close()


async def test_token_in_query_string():
    client = await Client("/?authToken=bob-token").connect()
    assert client.connected and client.detail is None
    await client.join("privateAsync", "bob")
    assert (await client.next())["event"]["type"] == "sync"
    await client.close()


@pytest.mark.parametrize("token", ["refuse-401", "refuse-403"])
async def test_hook_raising_refuses_the_upgrade(token):
    client = await Client(subprotocols=["Authorization", token]).connect()
    assert not client.connected


@pytest.mark.parametrize(("token", "status"), [("refuse-401", 401), ("refuse-403", 403)])
async def test_refusal_status_where_the_server_supports_denial_responses(token, status):
    scope = {"type": "websocket", "path": "/", "query_string": f"authToken={token}".encode(), "headers": [],
             "subprotocols": [], "extensions": {"websocket.http.response": {}}}
    comm = ApplicationCommunicator(websocket_application(), scope)
    await comm.send_input({"type": "websocket.connect"})
    start = await comm.receive_output(timeout=5)
    assert start["type"] == "websocket.http.response.start" and start["status"] == status
    assert (await comm.receive_output(timeout=5))["type"] == "websocket.http.response.body"


@pytest.mark.parametrize("stream", ["private", "privateAsync"])
async def test_can_access_denial_sends_error_and_makes_no_subscription(stream):
    client = await Client(subprotocols=["Authorization", "alice-token"]).connect()
    await client.join("chatMessage", "public")
    await client.next()
    await client.join(stream, "bob")
    frame = await client.next()
    assert frame["streamName"] == stream and frame["groupId"] == "bob" and "id" not in frame
    assert frame["event"] == {"type": "event", "event": {"type": "error", "data": {
        "code": "STREAM_ACCESS_DENIED", "message": "Access denied"}}}
    await client.join(stream, "bob", "item-1")
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await streams[stream].aset("bob", "item-1", {"secret": True})
    await streams[stream].asend({"groupId": "bob"}, {"type": "psst", "data": {}})
    await client.fence("chatMessage", "public")  # nothing from bob's group reached alice
    await client.close()


async def test_can_access_runs_on_every_join_with_the_subscription():
    calls = []

    def spy(subscription, auth_context):
        calls.append((subscription, auth_context))
        return True

    with override_settings(STREAMS={"spied": {"schema": {"type": "object"}, "canAccess": spy}}):
        client = await Client("/?authToken=alice-token").connect()
        await client.join("spied", "g", sub="s1")
        await client.join("spied", "g", "i", sub="s2")
        await client.next()
        await client.next()
        await client.close()
    assert calls == [
        ({"streamName": "spied", "groupId": "g", "subscriptionId": "s1"}, {"user": "alice", "via": "token"}),
        ({"streamName": "spied", "groupId": "g", "id": "i", "subscriptionId": "s2"},
         {"user": "alice", "via": "token"}),
    ]


async def test_a_raising_can_access_denies():
    client = await Client().connect()
    await client.join("broken", "g")
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await client.close()


async def test_default_policy_authenticated():
    with override_settings(MOTIA={**HOOK, "DEFAULT_ACCESS": "authenticated"}):
        anonymous = await Client().connect()
        assert anonymous.connected
        await anonymous.join("chatMessage", "room")
        assert error_code(await anonymous.next()) == "STREAM_ACCESS_DENIED"
        await anonymous.close()
        alice = await Client("/?authToken=alice-token").connect()
        await alice.join("chatMessage", "room")
        assert (await alice.next())["event"]["type"] == "sync"
        await alice.close()


async def test_default_policy_allow_lets_anonymous_join():
    client = await Client().connect()
    await client.join("chatMessage", "room")
    assert (await client.next())["event"]["type"] == "sync"
    await client.close()


def _session_cookie(username: str) -> bytes:
    user = User.objects.create_user(username, password="pw")
    http = HttpClient()
    http.force_login(user)
    return f"sessionid={http.cookies['sessionid'].value}".encode()


@pytest.mark.parametrize("with_hook", [True, False])
async def test_session_user_from_cookie(with_hook):
    cookie = await sync_to_async(_session_cookie)("alice")
    motia = HOOK if with_hook else {}
    with override_settings(MOTIA=motia):
        headers = [(b"cookie", cookie), (b"host", b"testserver"), (b"origin", b"http://testserver")]
        client = await Client(headers=headers).connect()
        await client.join("private", "alice")
        assert (await client.next())["event"]["type"] == "sync", "the session user may join"
        await client.close()


async def test_session_from_a_foreign_origin_is_ignored():
    cookie = await sync_to_async(_session_cookie)("alice")
    headers = [(b"cookie", cookie), (b"host", b"testserver"), (b"origin", b"https://evil.test")]
    client = await Client(headers=headers).connect()
    assert client.connected
    await client.join("private", "alice")
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await client.close()
