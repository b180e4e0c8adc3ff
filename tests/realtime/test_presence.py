"""Presence streams: one item per present member in the tracked group, created on a member's first socket,
deleted on its last one, and swept by any surviving process once the server holding it died (the example's
chatPresence stream tracks chatMessage)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from motia_django import streams
from motia_django.bridge import to_thread
from motia_django.models import PresenceLease
from motia_django.realtime import presence
from tests.support.realtime import Client, NodeClient
from tests.support.server import LiveServer, base_env, live_database

AUTH = {"AUTHENTICATE": "tests.support.live_access.authenticate"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_a_members_item_lives_from_its_first_socket_to_its_last():
    room = f"p-{uuid.uuid4().hex[:6]}"
    with override_settings(MOTIA=AUTH):
        observer = await Client().connect()
        await observer.join("chatPresence", room)
        assert (await observer.next())["event"]["data"] == []
        first = await Client(subprotocols=["Authorization", "alice-token"]).connect()
        second = await Client(subprotocols=["Authorization", "alice-token"]).connect()
        await first.join("chatMessage", room)
        await first.next()
        arrived = (await observer.next())["event"]
        assert arrived["type"] == "create" and arrived["data"]["id"] == "alice"
        assert arrived["data"]["userId"] == "alice" and arrived["data"]["joinedAt"]
        await second.join("chatMessage", room)
        await second.join("chatMessage", room, "m1")  # more subscriptions of a present member change nothing
        await second.next(), await second.next()
        await first.close()  # alice is still here, on her second socket
        await observer.fence("chatPresence", room)
        await second.close()
        departed = (await observer.next())["event"]
        assert departed["type"] == "delete" and departed["data"]["id"] == "alice"
        assert await PresenceLease.objects.filter(group_id=room).acount() == 0
        anonymous = await Client().connect()  # no user: the connection is the member
        await anonymous.join("chatMessage", room)
        await anonymous.next()
        member = (await observer.next())["event"]["data"]["id"]
        assert member.startswith(presence.new_connection_id().split(":")[0])
        await anonymous.close()
        departed = (await observer.next())["event"]
        assert departed["type"] == "delete" and departed["data"]["id"] == member
        await observer.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_the_sweep_removes_members_whose_server_stopped_renewing():
    room = f"p-{uuid.uuid4().hex[:6]}"
    observer = await Client().connect()
    await observer.join("chatPresence", room)
    await observer.next()
    await streams.chatPresence.aset(room, "ghost", {"userId": "ghost"})
    await observer.next()
    await PresenceLease.objects.acreate(stream="chatPresence", group_id=room, member_id="ghost",
                                        connection_id="dead-process:1",
                                        expires_at=timezone.now() - timedelta(seconds=1))
    assert await to_thread(presence.expire_leases)() == 1
    assert (await observer.next())["event"]["type"] == "delete"
    await observer.close()


@pytest.mark.services
@pytest.mark.e2e
def test_presence_across_servers_and_a_killed_server(postgres_url, redis_url, tmp_path):
    """Arrival and departure reach a client of another server within 1 s; the members of a SIGKILLed server are
    gone within twice the TTL (the surviving server sweeps them)."""
    room, ttl = f"live-{uuid.uuid4().hex[:6]}", 2.0
    with live_database(tmp_path, postgres_url) as db_url:
        env = base_env(db_url, REDIS_URL=redis_url, PRESENCE_TTL_S=str(ttl))
        with LiveServer(env, log_dir=tmp_path) as one, LiveServer(env, log_dir=tmp_path) as two, \
                NodeClient(two.ws_url) as observer:
            observer.group("who", "chatPresence", room)
            observer.wait_state("who", [])
            with NodeClient(one.ws_url, protocols=["Authorization", "alice-token"]) as alice:
                alice.group("chat", "chatMessage", room)
                t0 = time.monotonic()
                observer.wait_for(lambda e: e["kind"] == "state" and e["name"] == "who"
                                  and [i["id"] for i in e["state"]] == ["alice"], timeout=5)
                assert time.monotonic() - t0 < 1.0 + 1.0  # the join's own round trip included
            t0 = time.monotonic()
            observer.wait_state("who", [], timeout=5)
            assert time.monotonic() - t0 < 1.0
            bob = NodeClient(one.ws_url, protocols=["Authorization", "bob-token"])
            bob.group("chat", "chatMessage", room)
            observer.wait_for(lambda e: e["kind"] == "state" and e["name"] == "who"
                              and [i["id"] for i in e["state"]] == ["bob"], timeout=5)
            assert one.proc is not None
            os.kill(one.proc.pid, signal.SIGKILL)
            one.proc.wait(10)
            t0 = time.monotonic()
            observer.wait_state("who", [], timeout=2 * ttl + 2)
            assert time.monotonic() - t0 < 2 * ttl
            bob.close()


def _who(subscription, auth_context):
    return {"userId": auth_context["user_id"], "room": subscription["groupId"]}


@pytest.mark.django_db(transaction=True)
def test_renew_recreates_a_lost_item_as_the_join_made_it():
    definition = {"schema": {"type": "object"},
                  "presence": {"tracks": "chatMessage", "ttl": 30, "data": "tests.realtime.test_presence._who"}}
    with override_settings(STREAMS={"here": definition}):
        stream = streams.here
        connection = presence.new_connection_id()
        presence.arrive(stream, "r1", "bob", connection, {"groupId": "r1"}, {"user_id": "bob"})
        assert stream.get("r1", "bob") == {"id": "bob", "userId": "bob", "room": "r1"}
        stream.delete("r1", "bob")  # a racing departure of bob's other socket took it
        presence.renew()  # the data hook needs the join's auth context, which renew does not have
        assert stream.get("r1", "bob") == {"id": "bob", "userId": "bob", "room": "r1"}
        presence.depart(stream, "r1", "bob", connection)
        assert stream.get("r1", "bob") is None
