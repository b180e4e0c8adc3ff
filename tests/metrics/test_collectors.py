"""motia_django.metrics.collectors: what a scrape exposes, the event counts (one query, none to describe) and
every process's metrics in multiprocess mode (two real Daphne servers)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from motia_django.metrics.collectors import EventCollector
from motia_django.models import Event
from tests.metrics.helpers import TOKEN
from tests.support.realtime import chat

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
