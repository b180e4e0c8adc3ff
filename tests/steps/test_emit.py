"""Event steps in-process: emit -> stored -> run (run_pending_events), retries, dead, failed input, emits rules."""

from __future__ import annotations

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from motia_django import EmitError, emit
from motia_django.models import Event, StateEntry
from motia_django.steps.event_queue import claim_events
from motia_django.testing import run_pending_events
from tests.support.steps import flow_steps  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("flow_steps")]


def events(topic: str) -> list[Event]:
    return list(Event.objects.filter(topic=topic).order_by("id"))


def test_emit_from_api_step_runs_subscribers_with_the_trace_id():
    response = APIClient().post("/start", {"topic": "tests.ping", "data": {"n": 1}}, format="json")
    assert response.status_code == 202
    trace_id = response.json()["traceId"]
    assert response["x-trace-id"] == trace_id
    [event] = events("tests.ping")
    assert (event.status, event.step, event.trace_id, event.emitted_by) == ("pending", "Ping", trace_id, "Start")

    assert run_pending_events() == 2  # Ping, then the Pong it emitted
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("done", 1)
    assert StateEntry.objects.get(group="pings", key=trace_id).value == {"input": {"n": 1}, "step": "Ping"}
    [pong] = events("tests.pong")
    assert (pong.status, pong.trace_id, pong.emitted_by) == ("done", trace_id, "Ping")
    assert StateEntry.objects.get(group="pongs", key=trace_id).value == {"n": 1}


def test_public_emit_from_plain_code():
    ids = emit({"topic": "tests.ping", "data": {"n": 2}}, trace_id="t-1")
    assert len(ids) == 1
    assert run_pending_events() == 2
    assert StateEntry.objects.get(group="pongs", key="t-1").value == {"n": 2}


def test_emit_without_subscribers_stores_nothing():
    assert emit({"topic": "nobody.listens", "data": {}}) == []
    assert not Event.objects.exists()


@pytest.mark.parametrize("bad", [None, {}, {"topic": ""}, {"topic": 3}, {"topic": "tests.ping", "data": object()}])
def test_malformed_events_are_rejected(bad):
    with pytest.raises(EmitError):
        emit(bad)
    assert not Event.objects.exists()


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(("data", "reason"), [
    ({"text": "\ud800"}, "not valid Unicode"), ({"text": "a\x00b"}, "NUL"), ({"n": float("inf")}, "not finite"),
    ({"deep": _deep(64)}, "nested deeper than 64"),  # data is the event's 65th level
])
def test_an_event_the_json_rule_refuses_is_not_stored(data, reason):
    """emit() keeps the package's one JSON rule: an event whose data the database or the wire cannot carry is
    refused, naming why, and nothing is stored."""
    with pytest.raises(EmitError, match=reason):
        emit({"topic": "tests.ping", "data": data})
    assert not Event.objects.exists()


def test_a_step_may_only_emit_topics_it_lists():
    response = APIClient().post("/sneaky", {}, format="json")
    assert response.status_code == 500
    assert not Event.objects.exists()


def test_rolled_back_emits_are_not_stored():
    with pytest.raises(RuntimeError), transaction.atomic():
        emit({"topic": "tests.ping", "data": {}})
        raise RuntimeError("roll back")
    assert not Event.objects.exists()


def test_retries_then_success():
    emit({"topic": "tests.flaky", "data": {"fail_times": 2}}, trace_id="flaky-1")
    run_pending_events()
    [event] = events("tests.flaky")
    assert (event.status, event.attempts) == ("done", 3)
    assert "flaky failure 2" in event.last_error
    assert StateEntry.objects.get(group="flaky", key="flaky-1").value == 3


def test_dead_after_max_attempts_with_the_error():
    emit({"topic": "tests.doomed", "data": {}})
    run_pending_events()
    [event] = events("tests.doomed")
    assert (event.status, event.attempts) == ("dead", 3)
    assert "ValueError: always fails" in event.last_error


def test_retry_waits_for_the_backoff(settings):
    settings.MOTIA = {**settings.MOTIA, "EVENT_RETRY_BACKOFF": 3600}
    emit({"topic": "tests.flaky", "data": {"fail_times": 1}}, trace_id="flaky-2")
    assert run_pending_events() == 1
    [event] = events("tests.flaky")
    assert (event.status, event.attempts) == ("pending", 1)
    assert event.available_at > event.updated_at
    assert run_pending_events() == 0  # not due yet


def test_invalid_input_is_failed_not_retried():
    emit({"topic": "tests.strict", "data": {"order_id": "o1", "quantity": "many"}})
    emit({"topic": "tests.strict", "data": {"order_id": "o2", "quantity": 2}})
    assert run_pending_events() == 2
    bad, good = events("tests.strict")
    assert (bad.status, bad.attempts) == ("failed", 1)
    assert "quantity" in bad.last_error
    assert good.status == "done"
    assert StateEntry.objects.get(group="orders", key="o2").value == {"order_id": "o2", "quantity": 2}
    assert not StateEntry.objects.filter(key="o1").exists()


def test_an_expired_lease_is_claimed_again():
    emit({"topic": "tests.ping", "data": {"n": 3}}, trace_id="lease")
    [claimed] = claim_events("worker-that-dies", 10, background=False)
    assert claimed.status == "running"
    assert run_pending_events() == 0  # leased to the dead worker
    Event.objects.filter(pk=claimed.pk).update(lease_until=claimed.available_at)  # the lease ran out
    assert run_pending_events() == 2
    claimed.refresh_from_db()
    assert (claimed.status, claimed.attempts) == ("done", 2)


def test_an_event_whose_worker_died_too_often_is_dead(settings):
    emit({"topic": "tests.ping", "data": {}})
    Event.objects.update(attempts=3)  # three workers died running it
    run_pending_events()
    [event] = events("tests.ping")
    assert (event.status, event.attempts) == ("dead", 4)
    assert "lease expired" in event.last_error


def test_an_event_for_a_step_that_no_longer_exists_is_dead():
    emit({"topic": "tests.ping", "data": {}})
    Event.objects.update(step="Gone")
    run_pending_events()
    assert events("tests.ping")[0].status == "dead"


def test_two_claimers_never_share_an_event():
    for n in range(6):
        emit({"topic": "tests.ping", "data": {"n": n}})
    first = claim_events("a", 4, background=False)
    second = claim_events("b", 4, background=False)
    assert len(first) == 4 and len(second) == 2
    assert not {e.pk for e in first} & {e.pk for e in second}
