"""Presence streams: one item per present member in the tracked group, created on a member's first socket,
deleted on its last one, and swept by any surviving process once the server holding it died (the example's
chatPresence stream tracks chatMessage)."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
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
async def test_a_socket_stays_present_until_its_last_subscription_on_the_group_ends():
    room = f"p-{uuid.uuid4().hex[:6]}"
    with override_settings(MOTIA=AUTH):
        observer = await Client().connect()
        await observer.join("chatPresence", room)
        await observer.next()
        alice = await Client(subprotocols=["Authorization", "alice-token"]).connect()
        await alice.join("chatMessage", room, sub="group")
        await alice.next()
        assert (await observer.next())["event"]["type"] == "create"
        await alice.join("chatMessage", room, "m1", sub="item")
        await alice.next()
        await alice.leave("chatMessage", room, "group")  # the item subscription keeps her in the room
        await observer.fence("chatPresence", room)
        await alice.leave("chatMessage", room, "item", "m1")
        departed = (await observer.next())["event"]
        assert departed["type"] == "delete" and departed["data"]["id"] == "alice"
        await alice.close()
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


# --- a renewal never resurrects a member who left (issue #18) ----------------------------------------------------

TRACKED = {"here": {"schema": {"type": "object"}, "presence": {"tracks": "chatMessage", "ttl": 30}}}


@pytest.mark.django_db(transaction=True)
def test_a_departure_between_the_renewals_lookup_and_its_recreate_leaves_no_orphan(monkeypatch, changes):
    with override_settings(STREAMS=TRACKED):
        stream = streams.here
        connection = presence.new_connection_id()
        presence.arrive(stream, "r1", "carol", connection, {"groupId": "r1"}, None)
        stream.delete("r1", "carol")  # lost to a race: the renewal will want to re-create it
        looked = presence._lost

        def then_departed(*args):
            lost = looked(*args)
            assert ("here", "r1", "carol") in lost
            presence.depart(stream, "r1", "carol", connection)  # her last socket leaves meanwhile
            return lost

        monkeypatch.setattr(presence, "_lost", then_departed)
        presence.renew()
        assert stream.get("r1", "carol") is None  # not re-created: no lease holds it
        assert not PresenceLease.objects.filter(member_id="carol").exists()
        assert [c.type for c in changes if c.id == "carol"] == ["create", "delete"]  # no create after she left


def _next_turn(turns: Iterator[Callable[[], None]], lock: threading.Lock) -> None:
    with lock:
        step = next(turns)
    step()


@pytest.mark.django_db(transaction=True)
def test_renewals_racing_departures_in_threads_leave_no_member_without_a_lease():
    """PostgreSQL, real concurrency: 30 members whose item was lost each leave while a renewal runs; at the end
    no item is left that no lease holds (the sweep would never remove it)."""
    from django.db import connection as db

    from tests.support.waiting import in_threads

    if db.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite's in-memory test database takes one at a time)")
    with override_settings(STREAMS=TRACKED):
        stream = streams.here
        for round_ in range(30):
            member, connection = f"m{round_}", presence.new_connection_id()
            presence.arrive(stream, "race", member, connection, {"groupId": "race"}, None)
            stream.delete("race", member)
            turns = iter([presence.renew, lambda m=member, c=connection: presence.depart(stream, "race", m, c)])
            assert in_threads(functools.partial(_next_turn, turns, threading.Lock()), 2, timeout=30) == []
            assert stream.get("race", member) is None, round_
        assert not PresenceLease.objects.filter(group_id="race").exists()


# --- arrivals in many rooms together look up leases and items in a fixed number of queries ------------------------

@pytest.mark.django_db
def test_arrivals_across_many_rooms_look_up_leases_and_items_in_one_query_each():
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with override_settings(STREAMS=TRACKED):
        stream = streams.here
        connection = presence.new_connection_id()
        presence.apply([presence.Arrival(stream, f"room-{n}", "alice", connection) for n in range(0, 50, 2)])
        presence.apply([presence.Arrival(stream, f"room-{n}", "bob", connection) for n in range(1, 50, 2)])
        # alice in the even rooms, bob in the odd: 100 keys, one query; the superset (both x all) is cut to what is asked
        asked = {("here", f"room-{n}", who): stream for n in range(50) for who in ("alice", "bob")}
        with CaptureQueriesContext(db) as queries:
            held, present = presence._held(asked), presence._with_items(asked)
        assert len(queries) == 2
        expected = {("here", f"room-{n}", "alice" if n % 2 == 0 else "bob") for n in range(50)}
        assert held == present == expected
        many = {("here", f"room-{n}", f"m{n}"): stream for n in range(presence._KEYS_PER_QUERY * 3)}
        with CaptureQueriesContext(db) as queries:
            assert presence._held(many) == set()
        assert len(queries) == 3  # chunks of _KEYS_PER_QUERY keys bound the superset each query can return
