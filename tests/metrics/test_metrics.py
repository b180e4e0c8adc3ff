"""Prometheus metrics: each metric moves when it should, the endpoint's access rules, and several processes
(two real Daphne servers sharing ``PROMETHEUS_MULTIPROC_DIR``; either endpoint reports both)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from motia_django import metrics
from motia_django.metrics.collectors import EventCollector
from motia_django.models import Event
from motia_django.realtime.consumer import CLOSE_SLOW_CLIENT, StreamConsumer
from motia_django.realtime.hub import hub
from motia_django.realtime.relay import Relay, committed_at, group_name, local_clock
from motia_django.stream.changes import Change
from motia_django.stream.registry import streams
from motia_django.testing import capture_changes, run_pending_events
from tests.support.realtime import Client, chat
from tests.support.steps import FIXTURES, use_steps

TOKEN = "metrics-test-token"


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

    monkeypatch.setattr(StreamConsumer, "_write", stalled_write)
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

    monkeypatch.setattr(StreamConsumer, "_write", stalled_write)
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


# --- the event counts ----------------------------------------------------------------------------------------


def _event(status: str) -> Event:
    return Event.objects.create(topic="t", step="S", trace_id="x", status=status, available_at=timezone.now())


def scrape(client: Any, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.content.decode()) for s in family.samples}


@pytest.mark.django_db
def test_event_counts_come_from_one_query_at_scrape_time(client, django_assert_num_queries):
    for status in ["pending", "pending", "running", "failed", "dead", "done", "done"]:
        _event(status)
    with django_assert_num_queries(1):
        [family] = list(EventCollector().collect())
    assert {s.labels["status"]: s.value for s in family.samples} == {"pending": 2, "running": 1, "failed": 1,
                                                                      "dead": 1}
    with override_settings(DEBUG=True):
        samples = scrape(client)
    assert samples[("motia_events", (("status", "pending"),))] == 2
    assert samples[("motia_events", (("status", "dead"),))] == 1
    assert not any(labels == (("status", "done"),) for _, labels in samples)


def test_describing_the_event_collector_runs_no_query():
    [family] = EventCollector().describe()  # no database access allowed here: it would raise
    assert family.name == "motia_events" and not family.samples


# --- access --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_open_in_debug_and_every_metric_is_there(client):
    with override_settings(DEBUG=True):
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain") and response["Cache-Control"] == "no-store"
    text = response.content.decode()
    for name in ("motia_websocket_connections", "motia_subscriptions", "motia_frames_sent_total",
                 "motia_frames_ignored_total",
                 "motia_slow_client_disconnects_total", "motia_broadcast_delay_seconds_bucket",
                 "motia_step_duration_seconds", "motia_events"):
        assert name in text, name


@pytest.mark.django_db
def test_openmetrics_when_the_scraper_asks_for_it(client):
    with override_settings(DEBUG=True):
        response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")


@pytest.mark.django_db
def test_without_credentials_401_with_a_bearer_challenge(client):
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"motia_" not in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==").status_code == 401


@pytest.mark.django_db
def test_the_token_opens_it_and_a_wrong_one_is_403(client):
    with override_settings(MOTIA={"METRICS_TOKEN": TOKEN}):
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer  {TOKEN} ").status_code == 200
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403  # no token configured


@pytest.mark.django_db
def test_staff_sessions_are_let_in_and_other_users_are_not(client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user = django_user_model.objects.create_user("user", password="pw")
    client.force_login(user)
    assert client.get("/metrics").status_code == 403
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200
    staff.is_active = False
    staff.save()
    assert client.get("/metrics").status_code == 401  # an inactive user's session is no session
    assert client.post("/metrics").status_code == 405


def test_a_bad_token_setting_is_a_system_check_error():
    from motia_django.checks import check_settings

    for bad in (987654, "", "   ", b"s3cret"):
        with override_settings(MOTIA={"METRICS_TOKEN": bad}):
            errors = [e for e in check_settings() if e.id == "motia_django.E017"]
            assert len(errors) == 1, bad
            assert "987654" not in errors[0].msg and "s3cret" not in errors[0].msg  # never the token itself
    with override_settings(MOTIA={"METRICS_TOKEN": "fine"}):
        assert not [e for e in check_settings() if e.id == "motia_django.E017"]


# --- several processes ---------------------------------------------------------------------------------------


def _scrape_live(server: Any) -> dict[str, float]:
    request = urllib.request.Request(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
            if not s.labels or (set(s.labels) == {"le"} and s.labels["le"] == "+Inf")}


def _eventually(server: Any, check: Any, timeout: float = 10.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = _scrape_live(server)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


@pytest.mark.e2e
def test_two_servers_one_view_in_multiprocess_mode(live_db_url, tmp_path):
    from tests.support.rawws import RawSocket
    from tests.support.realtime import write
    from tests.support.server import LiveServer, base_env

    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = base_env(live_db_url, PROMETHEUS_MULTIPROC_DIR=str(folder), MOTIA_TEST_METRICS_TOKEN=TOKEN)
    group = f"mp-{uuid.uuid4().hex[:6]}"
    with LiveServer(env, log_dir=tmp_path) as a, LiveServer(env, log_dir=tmp_path) as b:
        sockets = [RawSocket(a.port), RawSocket(a.port), RawSocket(b.port)]
        for i, sock in enumerate(sockets):
            sock.send_json({"type": "join", "data": {"streamName": "chatMessage", "groupId": group,
                                                     "subscriptionId": f"s{i}"}})
            assert b'"sync"' in sock.frame()[1]
        write(a, "set", stream="chatMessage", group=group, id="m1", data=chat("m1"))
        for sock in sockets[:2]:  # the in-memory layer: only server a's sockets hear of it
            assert b'"create"' in sock.frame()[1]

        def both(samples: dict[str, float]) -> bool:
            return samples.get("motia_broadcast_delay_seconds_count") == 2

        for server in (a, b):
            samples = _eventually(server, both)
            assert samples["motia_websocket_connections"] == 3, samples
            assert samples["motia_subscriptions"] == 3
            assert samples["motia_frames_sent_total"] == 5  # three syncs, two creates
            assert samples["motia_broadcast_delay_seconds_count"] == 2
            assert samples["motia_broadcast_delay_seconds_bucket"] == 2

        b.stop()  # its socket and subscription go with it; its counters stay
        samples = _eventually(a, lambda s: s.get("motia_websocket_connections") == 2)
        assert samples["motia_websocket_connections"] == 2 and samples["motia_subscriptions"] == 2
        assert samples["motia_frames_sent_total"] == 5
        for sock in sockets:
            sock.close()


@pytest.mark.e2e
def test_each_process_on_its_own_without_the_directory(live_db_url, tmp_path):
    from tests.support.rawws import RawSocket
    from tests.support.server import LiveServer, base_env

    env = base_env(live_db_url, MOTIA_TEST_METRICS_TOKEN=TOKEN)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with LiveServer(env, log_dir=tmp_path) as a, LiveServer(env, log_dir=tmp_path) as b:
        sock = RawSocket(a.port)
        assert _eventually(a, lambda s: s.get("motia_websocket_connections") == 1)["motia_websocket_connections"] == 1
        assert _scrape_live(b)["motia_websocket_connections"] == 0
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{a.url}/metrics", timeout=10)
        assert refused.value.code == 401
        sock.close()
