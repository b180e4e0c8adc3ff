"""Lifecycle hooks: onJoin may refuse a join; onLeave runs once per successful join, on leave, re-join and
disconnect; sync and async hooks; a refused re-join leaves the existing subscription alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from tests.support.realtime import Client, error_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layers")]

calls: list[tuple[str, str, Any]] = []


def on_join(subscription: dict[str, Any], auth_context: Any) -> bool | None:
    calls.append(("join", subscription["subscriptionId"], subscription["groupId"]))
    return subscription["groupId"] != "closed"


async def on_leave(subscription: dict[str, Any], auth_context: Any) -> None:
    calls.append(("leave", subscription["subscriptionId"], subscription["groupId"]))


def exploding(subscription: dict[str, Any], auth_context: Any) -> None:
    raise RuntimeError("bug in onJoin")


HOOKED = {"memo": {"schema": {"type": "object"}, "onJoin": "tests.realtime.test_joins.on_join",
                   "on_leave": "tests.realtime.test_joins.on_leave"},
          "boom": {"schema": {"type": "object"}, "onJoin": "tests.realtime.test_joins.exploding"},
          "gated": {"schema": {"type": "object"}, "canAccess": lambda sub, auth: sub["groupId"] != "closed"}}


@pytest.fixture(autouse=True)
def hooked_streams():
    calls.clear()
    with override_settings(STREAMS=HOOKED):
        yield


async def test_on_join_and_on_leave_run_once_per_successful_join():
    client = await Client().connect()
    a = await client.join("memo", "g1", sub="a")
    await client.next()
    await client.join("memo", "g2", sub="a")  # a re-join under the same id: the old one leaves
    await client.next()
    b = await client.join("memo", "g3", sub="b")
    await client.next()
    await client.leave("memo", "g3", b)
    await client.handled()
    assert calls == [("join", "a", "g1"), ("join", "a", "g2"), ("leave", "a", "g1"), ("join", "b", "g3"),
                     ("leave", "b", "g3")]
    await client.close()  # a disconnect ends what is left
    assert calls[-1] == ("leave", a, "g2") and len([c for c in calls if c[0] == "leave"]) == 3


async def test_on_join_may_refuse_and_a_refused_join_gets_no_on_leave():
    client = await Client().connect()
    await client.join("memo", "closed", sub="x")
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await client.join("boom", "g", sub="y")  # a raising hook refuses too
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await client.close()
    assert calls == [("join", "x", "closed")]


async def test_a_refused_re_join_leaves_the_existing_subscription_alone():
    from motia_django import streams

    client = await Client().connect()
    sub = await client.join("gated", "open")
    await client.next()
    await client.join("gated", "closed", sub=sub)  # same id, refused
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await streams["gated"].aset("open", "x", {"v": 1})
    frame = await client.next()
    assert frame["groupId"] == "open" and frame["event"]["type"] == "create"
    await client.close()


# --- access on every join: presence streams, and re-joins (docs/security.md, "Access everywhere") ---------------

access_calls: list[tuple[str, str, Any]] = []
open_groups: set[str] = set()


def room_access(subscription: dict[str, Any], auth_context: Any) -> bool:
    """The tracked room: ``public`` is open; another group only to the user of that name, while it is open."""
    access_calls.append((subscription["streamName"], subscription["groupId"], auth_context))
    if subscription["groupId"] == "public":
        return True
    user = auth_context.get("user") if isinstance(auth_context, dict) else None
    return user == subscription["groupId"] and user in open_groups


def presence_access(subscription: dict[str, Any], auth_context: Any) -> bool:
    access_calls.append((subscription["streamName"], subscription["groupId"], auth_context))
    return True  # the presence stream itself lets anyone in: the room's own access must still refuse


PRESENCE = {
    "room": {"schema": {"type": "object"}, "canAccess": "tests.realtime.test_joins.room_access"},
    "roomPresence": {"schema": {"type": "object"}, "presence": {"tracks": "room", "ttl": 3600},
                     "canAccess": "tests.realtime.test_joins.presence_access"},
    "openPresence": {"schema": {"type": "object"}, "presence": {"tracks": "room", "ttl": 3600}},
}
AUTH = {"AUTHENTICATE": "tests.support.live_access.authenticate"}


@pytest.fixture
def presence_streams():
    access_calls.clear()
    open_groups.clear()
    open_groups.update({"alice", "bob"})
    with override_settings(STREAMS=PRESENCE, MOTIA=AUTH):
        yield


@pytest.mark.usefixtures("presence_streams")
async def test_who_is_in_a_room_is_as_private_as_the_room():
    anonymous = await Client().connect()
    bob = await Client(subprotocols=["Authorization", "bob-token"]).connect()
    for client in (anonymous, bob):
        for stream in ("roomPresence", "openPresence"):  # with or without a canAccess of its own
            await client.join(stream, "alice")
            assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"  # no member list
            await client.join(stream, "alice", "alice")  # nor one member's item
            assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
        await client.join("room", "public")
        await client.next()
    assert ("room", "alice", None) in access_calls and ("room", "alice", {"user": "bob", "via": "token"}) in access_calls

    alice = await Client(subprotocols=["Authorization", "alice-token"]).connect()
    await alice.join("roomPresence", "alice")  # alice may see who is in her room
    assert await alice.expect_sync() == []
    observer = await Client(subprotocols=["Authorization", "alice-token"]).connect()
    await observer.join("roomPresence", "alice")
    await observer.expect_sync()
    await alice.join("room", "alice")  # she arrives...
    assert await alice.expect_sync() == []
    assert (await observer.expect_create())["id"] == "alice"
    await alice.close()  # ... and leaves
    assert (await observer.expect_delete())["id"] == "alice"
    for client in (anonymous, bob):  # neither reached the sockets that were refused
        await client.handled()
        await client.close()
    await observer.close()


@pytest.mark.usefixtures("presence_streams")
async def test_re_joins_run_can_access_again():
    alice = await Client(subprotocols=["Authorization", "alice-token"]).connect()
    await alice.join("room", "alice", sub="s")
    assert await alice.expect_sync() == []
    await alice.join("roomPresence", "alice", sub="p")
    await alice.expect_sync()
    calls = len(access_calls)
    await alice.join("room", "alice", sub="s")  # a re-join, same group, same id: asked again
    seen = set()
    while len(seen) < 3:  # the sync, and her presence flapping meanwhile (the old subscription left first)
        frame = await alice.next()
        seen.add((frame["streamName"], frame["event"]["type"]))
    assert seen == {("room", "sync"), ("roomPresence", "delete"), ("roomPresence", "create")}
    assert access_calls[calls:] == [("room", "alice", {"user": "alice", "via": "token"})]
    open_groups.discard("alice")  # access revoked: the next re-join is refused, of either stream
    await alice.join("room", "alice", sub="s")
    assert error_code(await alice.next()) == "STREAM_ACCESS_DENIED"
    await alice.join("roomPresence", "alice", sub="p")
    assert error_code(await alice.next()) == "STREAM_ACCESS_DENIED"
    assert [c[0] for c in access_calls[calls + 1:]] == ["room", "roomPresence", "room"]
    await alice.close()


LOBBY = {"lobby": {"schema": {"type": "object"}},
         "lobbyPresence": {"schema": {"type": "object"}, "presence": {"tracks": "lobby", "ttl": 3600}}}


@pytest.mark.parametrize(("policy", "anonymous_may"), [("authenticated", False), ("allow", True)])
async def test_a_presence_stream_applies_the_default_policy_of_the_stream_it_tracks(policy, anonymous_may):
    """The tracked stream has no canAccess: DEFAULT_ACCESS decides for it and for who is present in it."""
    with override_settings(STREAMS=LOBBY, MOTIA={**AUTH, "DEFAULT_ACCESS": policy}):
        anonymous = await Client().connect()
        bob = await Client(subprotocols=["Authorization", "bob-token"]).connect()
        for client, may in ((anonymous, anonymous_may), (bob, True)):
            for stream, item in (("lobby", None), ("lobbyPresence", None), ("lobbyPresence", "bob")):
                await client.join(stream, "hall", *([item] if item else []))
                frame = await client.next()
                if may:
                    assert frame["event"]["type"] == "sync", (policy, stream, frame)
                else:
                    assert error_code(frame) == "STREAM_ACCESS_DENIED", (policy, stream, frame)
        await anonymous.close()
        await bob.close()
