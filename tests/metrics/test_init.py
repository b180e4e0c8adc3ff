"""motia_django.metrics (the package): each metric it records moves when it should (sockets, subscriptions,
frames, broadcast delay, step durations); these are what an operator alerts on."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from motia_django import metrics
from motia_django.realtime.consumer import CLOSE_SLOW_CLIENT, StreamConsumer
from motia_django.realtime.hub import hub
from motia_django.realtime.relay import Relay, committed_at, group_name, local_clock
from motia_django.stream.changes import Change
from motia_django.stream.registry import streams
from motia_django.testing import capture_changes, run_pending_events
from tests.support.realtime import Client, chat
from tests.support.steps import FIXTURES, use_steps


def value(name: str, **labels: str) -> float:
    """A sample of this process's default registry (0 when it does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def delays() -> float:
    return value("motia_broadcast_delay_seconds_count")


async def settle() -> None:
    """Let the loop run the batched flush of frame counts (one loop iteration after the frames were written)."""
    for _ in range(3):
        await asyncio.sleep(0)
    metrics.flush()


# --- sockets, subscriptions, frames, broadcast delay ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_connections_and_subscriptions_follow_sockets_joins_and_leaves():
    connections, subscriptions = value("motia_websocket_connections"), value("motia_subscriptions")
    client = await Client().connect()
    assert value("motia_websocket_connections") == connections + 1
    group_sub = await client.join("chatMessage", "room")
    await client.join("chatMessage", "room", "m1")
    await client.join("chatMessage", "other")
    await client.next(), await client.next(), await client.next()
    assert value("motia_subscriptions") == subscriptions + 3
    await client.join("chatMessage", "room", sub=group_sub)  # the same subscription id again: replaced, not added
    await client.next()
    assert value("motia_subscriptions") == subscriptions + 3
    await client.leave("chatMessage", "room", group_sub)
    await client.handled()
    assert value("motia_subscriptions") == subscriptions + 2
    await client.close()
    assert value("motia_websocket_connections") == connections
    assert value("motia_subscriptions") == subscriptions


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_a_refused_connection_is_not_counted():
    connections = value("motia_websocket_connections")
    with override_settings(MOTIA={"AUTHENTICATE": "tests.support.live_access.authenticate"}):
        client = await Client("/?authToken=refuse-401").connect()
        assert not client.connected
        await client.close()
    assert value("motia_websocket_connections") == connections


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_frames_are_counted_once_per_socket_and_timed_from_commit():
    clients = [await Client().connect() for _ in range(3)]
    for client in clients:
        await client.join("chatMessage", "fanout")
        await client.join("chatMessage", "fanout", "m1")  # two matching subscriptions: still one frame
        await client.next(), await client.next()
    await settle()
    frames, timed, total = value("motia_frames_sent_total"), delays(), value("motia_broadcast_delay_seconds_sum")

    await streams.chatMessage.aset("fanout", "m1", chat("m1"))
    for client in clients:
        assert (await client.next())["event"]["type"] == "create"
    await settle()
    assert value("motia_frames_sent_total") == frames + 3
    assert delays() == timed + 3  # one observation per frame written, from the change's commit
    spent = value("motia_broadcast_delay_seconds_sum") - total
    assert 0 < spent < 3 * 5.0
    assert value("motia_broadcast_delay_seconds_bucket", le="+Inf") == delays()
    for client in clients:
        await client.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_syncs_and_errors_are_frames_but_not_timed():
    client = await Client().connect()
    await settle()
    frames, timed = value("motia_frames_sent_total"), delays()
    await client.join("chatMessage", "room")
    await client.next()
    await client.join("noSuchStream", "room")
    await client.next()
    await settle()
    assert value("motia_frames_sent_total") == frames + 2
    assert delays() == timed
    await client.close()


def test_a_change_is_stamped_with_its_commit_time(transactional_db):
    before = time.monotonic()
    with capture_changes() as seen:
        streams.chatMessage.set("room", "stamped", chat("stamped"))
    [change] = seen
    assert change.committed is not None and before <= change.committed <= time.monotonic()
    assert change == Change(change.stream, change.group_id, change.id, change.event, change.timestamp, change.seq)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_queued_frames_are_timed_when_written(monkeypatch):
    stall, release = asyncio.Event(), asyncio.Event()

    async def stalled_write(self, text):
        if stall.is_set():
            await release.wait()
        await self.send(text_data=text)

    monkeypatch.setattr(StreamConsumer, "write_frame", stalled_write)
    client = await Client().connect()
    await client.join("chatMessage", "queued")
    await client.next()
    stall.set()  # the client stops reading: the next frame is taken, the one after it waits in the outbox
    await settle()
    frames, timed, total = value("motia_frames_sent_total"), delays(), value("motia_broadcast_delay_seconds_sum")
    await streams.chatMessage.aset("queued", "a", chat("a"))
    await streams.chatMessage.aset("queued", "b", chat("b"))
    await asyncio.sleep(0.05)  # the frames wait in the outbox meanwhile
    release.set()
    await client.next(), await client.next()
    await settle()
    assert value("motia_frames_sent_total") == frames + 2
    assert delays() == timed + 2
    assert value("motia_broadcast_delay_seconds_sum") - total >= 0.05  # the queued frame's wait counts
    await client.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_slow_client_disconnects_are_counted(monkeypatch):
    release = asyncio.Event()
    written: list[str] = []

    async def stalled_write(self, text):
        if written:
            await release.wait()
        written.append(text)
        await self.send(text_data=text)

    monkeypatch.setattr(StreamConsumer, "write_frame", stalled_write)
    cut_off = value("motia_slow_client_disconnects_total")
    with override_settings(MOTIA={"SEND_QUEUE_LIMIT": 3}):
        client = await Client().connect()
        await client.join("chatMessage", "slow")
        await client.next()
        for i in range(6):
            await streams.chatMessage.asend({"groupId": "slow"}, {"type": "tick", "data": {"i": i}})
        assert await client.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_SLOW_CLIENT}
        release.set()
    assert value("motia_slow_client_disconnects_total") == cut_off + 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_ignored_frames_are_counted_by_reason_and_logged_once_per_socket(caplog):
    reasons = ("binary", "too_large", "not_json", "not_an_object")
    before = {r: value("motia_frames_ignored_total", reason=r) for r in reasons}
    client = await Client().connect()
    caplog.set_level("INFO", logger="motia_django")
    for _ in range(3):
        await client.send_to(bytes_data=b"\x00\x01")
        await client.send_to(text_data="x" * (64 * 1024 + 1))
        await client.send_to(text_data="{not json")
        await client.send_to(text_data="[1, 2]")
        await client.send_to(text_data="null")
    await client.handled()  # the socket still answers
    assert {r: value("motia_frames_ignored_total", reason=r) - before[r] for r in reasons} == {
        "binary": 3, "too_large": 3, "not_json": 3, "not_an_object": 6}
    logged = [r for r in caplog.records if r.getMessage().startswith("Ignored a client frame")]
    assert len(logged) == 1 and "binary" in logged[0].getMessage()
    await client.close()


def test_remote_commit_times_travel_as_wall_clock():
    change = Change("s", "g", "i", {"type": "create", "data": {}}, 1, committed=time.monotonic() - 0.25)
    at = committed_at(change)
    assert time.time() - 0.3 < at < time.time() - 0.2
    assert time.monotonic() - 0.3 < (local_clock(at) or 0) < time.monotonic() - 0.2
    assert local_clock(time.time() + 60) == pytest.approx(time.monotonic(), abs=0.05)  # a clock ahead: now
    assert local_clock(None) is None and local_clock("x") is None and local_clock(True) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_changes_from_another_process_are_timed_from_their_commit():
    from channels.layers import InMemoryChannelLayer

    from motia_django import layers

    relay = hub.relay = Relay(hub, InMemoryChannelLayer(capacity=100), layers.submit)
    try:
        client = await Client().connect()
        await client.join("chatMessage", "remote")
        await client.next()
        await settle()
        timed, total = delays(), value("motia_broadcast_delay_seconds_sum")
        change = Change("chatMessage", "remote", "m1", {"type": "create", "data": chat("m1")}, 10**13,
                        committed=time.monotonic() - 0.5)  # committed half a second ago in another process
        await relay.layer.group_send(group_name("chatMessage", "remote"),
                                     {**relay.message(change), "origin": "another-process"})
        assert (await client.next())["id"] == "m1"
        await settle()
        assert delays() == timed + 1
        assert 0.5 <= value("motia_broadcast_delay_seconds_sum") - total < 5
        await client.close()
    finally:
        hub.relay = None
        await relay.close()


# --- steps ---------------------------------------------------------------------------------------------------


def durations(step: str, kind: str) -> float:
    return value("motia_step_duration_seconds_count", step=step, kind=kind)


@pytest.mark.django_db
def test_api_step_durations_sync_and_async(settings):
    use_steps(settings, FIXTURES / "flows", EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=3)
    echo, start, boom = durations("Echo", "api"), durations("Start", "api"), durations("Boom", "api")
    client = APIClient()
    assert client.post("/echo/a/1", {}, format="json").status_code == 200  # sync handler
    assert client.post("/start", {"topic": "tests.strict"}, format="json").status_code == 202  # async handler
    assert client.get("/boom").status_code == 500  # a failing run is still a run
    assert durations("Echo", "api") == echo + 1
    assert durations("Start", "api") == start + 1
    assert durations("Boom", "api") == boom + 1
    assert client.post("/start", {}, format="json").status_code == 400  # the handler never ran
    assert durations("Start", "api") == start + 1


@pytest.mark.django_db
def test_event_step_durations(settings):
    use_steps(settings, FIXTURES / "flows", EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=3)
    ping, pong = durations("Ping", "event"), durations("Pong", "event")
    assert APIClient().post("/start", {"topic": "tests.ping", "data": {"n": 1}}, format="json").status_code == 202
    assert run_pending_events() == 2
    assert durations("Ping", "event") == ping + 1  # async handler
    assert durations("Pong", "event") == pong + 1  # sync handler, in a thread
    assert value("motia_step_duration_seconds_sum", step="Ping", kind="event") > 0


@pytest.mark.django_db
def test_cron_step_durations_are_labelled_cron(settings):
    from motia_django.steps.cron import enqueue_due_ticks
    from motia_django.steps.registry import step_registry

    use_steps(settings, FIXTURES / "cron", EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=3)
    runs = durations("EveryMinute", "cron")
    t0 = dt.datetime(2026, 5, 4, 10, 0, 30, tzinfo=dt.UTC)
    enqueue_due_ticks(step_registry.cron_steps, now=t0)
    enqueue_due_ticks(step_registry.cron_steps, now=t0 + dt.timedelta(minutes=1))
    assert run_pending_events() == 1
    assert durations("EveryMinute", "cron") == runs + 1
