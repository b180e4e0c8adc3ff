"""motia_django.realtime.hub: this process's sockets by group, delivery in sequence order, resyncs, publishing
from any thread, and each socket's ``Membership``."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from motia_django.realtime import hub as hub_module
from motia_django.realtime import sequence
from motia_django.realtime.hub import Hub, Membership
from motia_django.realtime.protocol import Subscription
from motia_django.stream.changes import Change

K = ("chatMessage", "room")
OTHER = ("chatMessage", "other")


class Socket:
    """A fake socket: what the hub hands it."""

    def __init__(self, name: str = "s") -> None:
        self.name = name
        self.frames: list[Change] = []
        self.resyncs: list[list[tuple[str, str]]] = []

    def deliver(self, frame) -> None:
        self.frames.append(frame)

    def resync(self, keys) -> None:
        self.resyncs.append(list(keys))

    def __repr__(self) -> str:
        return f"<Socket {self.name}>"


class Broken(Socket):
    def deliver(self, frame) -> None:
        raise RuntimeError("socket gone")


class Relay:
    """A fake cross-process side."""

    def __init__(self, fail_listen: bool = False) -> None:
        self.sent: list[Change] = []
        self.calls: list[tuple[str, tuple[str, str]]] = []
        self.fail_listen = fail_listen

    def send(self, change) -> None:
        self.sent.append(change)

    async def listen(self, key) -> None:
        self.calls.append(("listen", key))
        if self.fail_listen:
            raise ConnectionError("layer down")

    async def unlisten(self, key) -> None:
        self.calls.append(("unlisten", key))


def change(seq: int | None = None, key: tuple[str, str] = K, id: str | None = "m1") -> Change:
    return Change(key[0], key[1], id, {"type": "update", "data": {"id": id, "n": seq}}, 1_000 + (seq or 0), seq)


def ns(socket: Socket) -> list[int | None]:
    return [frame.seq for frame in socket.frames]


# --- membership ----------------------------------------------------------------------------------------------


async def test_join_listens_once_per_group_and_leave_unlistens_with_the_last_socket():
    hub, relay = Hub(), Relay()
    hub.relay = relay
    a, b = Socket("a"), Socket("b")
    await hub.join(K, a)
    await hub.join(K, b)
    assert set(hub.members(K)) == {a, b} and relay.calls == [("listen", K)]
    await hub.leave(K, a)
    assert hub.members(K) == (b,) and relay.calls == [("listen", K)]
    assert hub.sockets == {K: b}  # a group's only socket is held as itself, without a set
    await hub.leave(K, b)
    assert hub.sockets == {} and relay.calls == [("listen", K), ("unlisten", K)]
    await hub.leave(K, b)  # not joined: nothing
    assert relay.calls == [("listen", K), ("unlisten", K)]


async def test_sockets_that_join_while_the_first_waits_for_the_relay_are_all_held():
    hub, gate = Hub(), asyncio.Event()

    class SlowRelay(Relay):
        async def listen(self, key):
            await gate.wait()
            await super().listen(key)

    hub.relay = relay = SlowRelay()
    a, b, c = Socket("a"), Socket("b"), Socket("c")
    first = asyncio.ensure_future(hub.join(K, a))
    await asyncio.sleep(0)
    assert hub.members(K) == ()  # the group is there, waiting: a second join does not listen again
    await hub.join(K, b)
    await hub.join(K, c)
    gate.set()
    await first
    assert set(hub.members(K)) == {a, b, c} and relay.calls == [("listen", K)]
    for socket in (a, b, c):
        await hub.leave(K, socket)
    assert hub.sockets == {} and relay.calls == [("listen", K), ("unlisten", K)]


async def test_a_socket_whose_listen_outlasts_another_sockets_visit_is_still_held():
    """A second socket joins and leaves while the first waits for the relay: the first is still delivered to
    (it used to be added to a set no longer in the table)."""
    hub, gate = Hub(), asyncio.Event()

    class SlowRelay(Relay):
        async def listen(self, key):
            await gate.wait()
            await super().listen(key)

    hub.relay = SlowRelay()
    a, b = Socket("a"), Socket("b")
    first = asyncio.ensure_future(hub.join(K, a))
    await asyncio.sleep(0)
    await hub.join(K, b)
    await hub.leave(K, b)
    gate.set()
    await first
    assert hub.members(K) == (a,)
    hub.deliver(change())
    assert ns(a) == [None]


async def test_a_failed_listen_leaves_no_empty_group_behind():
    hub = Hub()
    hub.relay = Relay(fail_listen=True)
    with pytest.raises(ConnectionError):
        await hub.join(K, Socket())
    assert hub.sockets == {}


async def test_the_last_leave_forgets_the_groups_sequence():
    hub, socket = Hub(), Socket()
    await hub.join(K, socket)
    hub.started(K, 5)
    assert hub.sequencer.last[K] == 5
    await hub.leave(K, socket)
    assert K not in hub.sequencer.last


async def test_started_is_ignored_for_a_group_without_sockets_or_without_a_number():
    hub = Hub()
    hub.started(K, 3)
    assert K not in hub.sequencer.last
    await hub.join(K, Socket())
    hub.started(K, None)
    assert K not in hub.sequencer.last


# --- delivery ------------------------------------------------------------------------------------------------


async def test_deliver_reaches_the_groups_sockets_only():
    hub, here, there = Hub(), Socket("here"), Socket("there")
    await hub.join(K, here)
    await hub.join(OTHER, there)
    hub.deliver(change())
    hub.deliver(change(key=("chatMessage", "nobody")))  # no socket on it
    assert ns(here) == [None] and there.frames == []


async def test_numbered_changes_go_out_in_sequence_order():
    hub, socket = Hub(), Socket()
    await hub.join(K, socket)
    hub.deliver(change(12))
    hub.deliver(change(11))
    assert socket.frames == []  # the group's number is not known before the first snapshot
    hub.started(K, 10)
    assert ns(socket) == [11, 12]
    hub.deliver(change(14))
    assert ns(socket) == [11, 12]  # 13 is still on its way
    hub.deliver(change(13))
    hub.deliver(change(12))  # old: delivered already
    assert ns(socket) == [11, 12, 13, 14]


async def test_unnumbered_events_go_out_at_once():
    hub, socket = Hub(), Socket()
    await hub.join(K, socket)
    hub.started(K, 1)
    hub.deliver(change(3))  # waits for 2
    hub.deliver(change(None, id=None))
    assert ns(socket) == [None]


async def test_a_lasting_gap_resyncs_the_groups_sockets(monkeypatch):
    monkeypatch.setattr(sequence, "GAP_WAIT", 0.01)
    hub, socket, bystander = Hub(), Socket(), Socket("bystander")
    await hub.join(K, socket)
    await hub.join(OTHER, bystander)
    hub.started(K, 1)
    hub.deliver(change(3))  # 2 was lost
    for _ in range(200):
        if socket.resyncs:
            break
        await asyncio.sleep(0.01)
    assert socket.resyncs == [[K]] and bystander.resyncs == []
    hub.deliver(change(4))
    assert ns(socket) == [4]


async def test_one_broken_socket_does_not_cost_the_others_their_frame(caplog):
    hub, before, after = Hub(), Socket("before"), Socket("after")
    for socket in (before, Broken("broken"), after):
        await hub.join(K, socket)
    with caplog.at_level(logging.ERROR, logger="motia_django.hub"):
        hub.deliver(change())
    assert ns(before) == [None] and ns(after) == [None]
    hub_records = [r for r in caplog.records if r.name == "motia_django.hub"]  # not another thread's
    assert [r.getMessage() for r in hub_records] == ["Delivering a change to a socket failed"]


async def test_resync_asks_each_socket_once_for_its_groups():
    hub, both, one = Hub(), Socket("both"), Socket("one")
    await hub.join(K, both)
    await hub.join(OTHER, both)
    await hub.join(K, one)
    hub.resync([K, ("chatMessage", "nobody")])
    assert both.resyncs == [[K]] and one.resyncs == [[K]]
    hub.resync()  # everything
    assert sorted(both.resyncs[1]) == sorted([K, OTHER]) and one.resyncs[1] == [K]


# --- publish -------------------------------------------------------------------------------------------------


async def test_attach_sets_the_loop_and_the_layers_loop(monkeypatch):
    attached = []
    monkeypatch.setattr(hub_module, "attach_loop", attached.append)
    hub, loop = Hub(), asyncio.get_running_loop()
    hub.attach(loop)
    assert hub.loop is loop and attached == [loop]


async def test_publish_on_the_loop_delivers_at_once_and_relays():
    hub, relay, socket = Hub(), Relay(), Socket()
    hub.relay, hub.loop = relay, asyncio.get_running_loop()
    await hub.join(K, socket)
    c = change()
    hub.publish(c)
    assert socket.frames == [c] and relay.sent == [c]


async def test_publish_from_another_thread_delivers_on_the_loop():
    hub, socket = Hub(), Socket()
    hub.loop = asyncio.get_running_loop()
    await hub.join(K, socket)
    c = change()
    await asyncio.to_thread(hub.publish, c)
    await asyncio.sleep(0)
    assert socket.frames == [c]


async def test_publish_without_a_loop_or_sockets_only_relays():
    hub, relay, socket = Hub(), Relay(), Socket()
    hub.relay = relay
    await hub.join(K, socket)
    hub.publish(change())  # no loop attached yet
    hub.loop = asyncio.get_running_loop()
    hub.publish(change(key=OTHER))  # nobody on that group here
    closed = asyncio.new_event_loop()
    closed.close()
    hub.loop = closed
    hub.publish(change())
    assert socket.frames == [] and len(relay.sent) == 3


# --- Membership ----------------------------------------------------------------------------------------------


def gauge() -> float:
    return REGISTRY.get_sample_value("motia_subscriptions") or 0.0


@pytest.fixture
def shared(monkeypatch) -> Hub:
    """A fresh process hub for ``Membership`` (it uses the module's ``hub``)."""
    fresh = Hub()
    monkeypatch.setattr(hub_module, "hub", fresh)
    return fresh


async def test_membership_joins_the_hub_once_per_group(shared):
    socket, start = Socket(), gauge()
    membership = Membership(socket)
    group, item = Subscription("s1", *K), Subscription("s2", *K, item_id="m1")
    await membership.add(group)
    await membership.add(item)
    await membership.add(Subscription("s3", *OTHER))
    assert shared.sockets == {K: socket, OTHER: socket}
    assert len(membership) == 3 and membership.get("s2") is item and membership.get("nope") is None
    assert gauge() == start + 3

    assert await membership.remove(group)
    assert shared.members(K) == (socket,)  # the item subscription still needs the group
    assert await membership.remove(item)
    assert K not in shared.sockets and OTHER in shared.sockets
    assert gauge() == start + 1 and len(membership) == 1


async def test_membership_remove_of_a_subscription_not_held(shared):
    membership, start = Membership(Socket()), gauge()
    held = Subscription("s1", *K)
    await membership.add(held)
    assert not await membership.remove(Subscription("s1", *K, item_id="x"))  # same id, another subscription
    assert not await membership.remove(Subscription("s9", *K))
    assert membership.get("s1") is held and K in shared.sockets and gauge() == start + 1
    assert await membership.remove(held)
    assert gauge() == start


async def test_membership_clear_leaves_every_group(shared):
    socket, start = Socket(), gauge()
    membership = Membership(socket)
    subs = [Subscription("a", *K), Subscription("b", *K, item_id="m"), Subscription("c", *OTHER)]
    for sub in subs:
        await membership.add(sub)
    assert await membership.clear() == subs
    assert shared.sockets == {} and len(membership) == 0 and gauge() == start
    assert await membership.clear() == []
    assert gauge() == start
