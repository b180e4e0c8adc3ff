"""motia_django.steps.event_queue: claiming due events, recording outcomes only while the lease is ours, renewing
and giving back leases, the retry backoff, and ``announce`` after commit."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.db import transaction

from motia_django.models import Event
from motia_django.steps import event_queue
from motia_django.steps.event_queue import (
    ERROR_LIMIT,
    announce,
    claim_events,
    default_worker_id,
    events_stored,
    finish_event,
    release_events,
    renew_leases,
    retry_delay,
)

Status = Event.Status
# Calls pass background=False: a worker thread's claim first drops connections the database closed
# (close_old_connections), which inside a test's transaction would close the test's own connection on PostgreSQL.
T0 = dt.datetime(2026, 5, 4, 10, 0, 0, tzinfo=dt.UTC)
LEASE = 30.0  # the default EVENT_LEASE_SECONDS


class Clock:
    """``event_queue``'s ``timezone``, with a ``now`` the test moves."""

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(event_queue, "timezone", clock)
    return clock


def event(step: str = "Step", *, at: dt.datetime = T0, **fields) -> Event:
    return Event.objects.create(topic="t", step=step, trace_id="trace", available_at=at, **fields)


def fresh(e: Event) -> Event:
    return Event.objects.get(pk=e.pk)


# --- claim_events --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_claim_takes_due_pending_events_oldest_first(clock):
    later = event("later", at=T0 - dt.timedelta(seconds=1))
    first = event("first", at=T0 - dt.timedelta(seconds=5))
    event("future", at=T0 + dt.timedelta(seconds=1))
    event("done", at=T0 - dt.timedelta(seconds=9), status=Status.DONE)
    claimed = claim_events("w1", 10, background=False)
    assert [e.step for e in claimed] == ["first", "later"]
    for e in (fresh(first), fresh(later)):
        assert (e.status, e.locked_by, e.attempts) == (Status.RUNNING, "w1", 1)
        assert e.lease_until == T0 + dt.timedelta(seconds=LEASE) and e.updated_at == T0


@pytest.mark.django_db
def test_claim_respects_the_limit_and_a_claimed_event_is_not_claimed_again(clock):
    for i in range(3):
        event(f"s{i}", at=T0 - dt.timedelta(seconds=3 - i))
    assert claim_events("w1", 0, background=False) == []
    assert [e.step for e in claim_events("w1", 2, background=False)] == ["s0", "s1"]
    assert [e.step for e in claim_events("w2", 5, background=False)] == ["s2"]
    assert claim_events("w3", 5, background=False) == []


@pytest.mark.django_db
def test_an_expired_lease_is_claimed_again(clock):
    e = event()
    claim_events("dead-worker", 1, background=False)
    clock.advance(LEASE - 1)
    assert claim_events("w2", 1, background=False) == []  # the lease still holds
    clock.advance(2)
    (again,) = claim_events("w2", 1, background=False)
    assert (again.pk, again.locked_by, again.attempts) == (e.pk, "w2", 2)


@pytest.mark.django_db
def test_the_lease_length_follows_the_setting(clock, settings):
    settings.MOTIA = {"EVENT_LEASE_SECONDS": 5}
    event()
    (claimed,) = claim_events("w1", 1, background=False)
    assert claimed.lease_until == T0 + dt.timedelta(seconds=5)


# --- finish_event --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_finish_records_the_outcome_of_our_event(clock):
    e = event()
    claim_events("w1", 1, background=False)
    clock.advance(3)
    assert finish_event(e.pk, "w1", Status.DONE)
    e = fresh(e)
    assert (e.status, e.lease_until, e.updated_at, e.last_error) == (Status.DONE, None, T0 + dt.timedelta(seconds=3),
                                                                    "")


@pytest.mark.django_db
def test_finish_does_not_overwrite_a_lease_lost_to_another_worker(clock):
    e = event()
    claim_events("w1", 1, background=False)
    clock.advance(LEASE + 1)
    claim_events("w2", 1, background=False)  # w1's lease expired; w2 runs it now
    assert not finish_event(e.pk, "w1", Status.DONE, error="late")
    e = fresh(e)
    assert (e.status, e.locked_by, e.last_error) == (Status.RUNNING, "w2", "")
    assert finish_event(e.pk, "w2", Status.DONE)
    assert not finish_event(e.pk, "w2", Status.DEAD)  # finished already: no longer running
    assert fresh(e).status == Status.DONE


@pytest.mark.django_db
def test_finish_with_a_retry_keeps_the_tail_of_the_error(clock):
    e = event()
    claim_events("w1", 1, background=False)
    error = "x" * 10 + "y" * ERROR_LIMIT
    assert finish_event(e.pk, "w1", Status.PENDING, error=error, retry_in=4.0)
    e = fresh(e)
    assert e.status == Status.PENDING and e.available_at == T0 + dt.timedelta(seconds=4)
    assert e.last_error == "y" * ERROR_LIMIT


# --- renew_leases and release_events -------------------------------------------------------------------------


@pytest.mark.django_db
def test_renew_moves_only_our_running_leases(clock):
    ours, theirs = event("ours"), event("theirs")
    claim_events("w1", 1, background=False)
    claim_events("w2", 1, background=False)
    clock.advance(20)
    renew_leases([ours.pk, theirs.pk], "w1")
    assert fresh(ours).lease_until == T0 + dt.timedelta(seconds=20 + LEASE)
    assert fresh(theirs).lease_until == T0 + dt.timedelta(seconds=LEASE)
    renew_leases([], "w1")  # nothing to do


@pytest.mark.django_db
def test_release_gives_our_events_back_without_counting_the_attempt(clock):
    ours, theirs = event("ours"), event("theirs", at=T0 + dt.timedelta(microseconds=1))
    claim_events("w1", 1, background=False)
    clock.advance(1)
    claim_events("w2", 1, background=False)
    clock.advance(5)
    assert release_events("w1") == 1
    e = fresh(ours)
    assert (e.status, e.available_at, e.lease_until, e.locked_by, e.attempts) == (
        Status.PENDING, T0 + dt.timedelta(seconds=6), None, "", 0)
    assert fresh(theirs).status == Status.RUNNING and fresh(theirs).locked_by == "w2"
    assert release_events("w1") == 0
    (again,) = claim_events("w3", 5, background=False)  # due at once for any runner
    assert again.pk == ours.pk and again.attempts == 1


def test_worker_ids_differ():
    assert default_worker_id() != default_worker_id()
    assert len(default_worker_id()) <= Event._meta.get_field("locked_by").max_length


# --- retry_delay ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("attempts", "delay"), [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 256.0),
                                                 (10, 300.0), (40, 300.0)])
def test_retry_delay_doubles_up_to_the_cap(attempts, delay):
    assert retry_delay(attempts) == delay


def test_retry_delay_follows_the_settings(monkeypatch):
    monkeypatch.setattr(event_queue, "motia_settings",
                        SimpleNamespace(EVENT_RETRY_BACKOFF=0.5, EVENT_RETRY_BACKOFF_MAX=3))
    assert [retry_delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    monkeypatch.setattr(event_queue, "motia_settings", SimpleNamespace(EVENT_RETRY_BACKOFF=0, EVENT_RETRY_BACKOFF_MAX=3))
    assert retry_delay(4) == 0.0


# --- announce ------------------------------------------------------------------------------------------------


@pytest.fixture
def announced():
    seen: list = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    events_stored.connect(receiver, dispatch_uid="tests-event-queue-announced")
    yield seen
    events_stored.disconnect(dispatch_uid="tests-event-queue-announced")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
def test_announce_sends_events_stored_after_commit_only(announced):
    with transaction.atomic():
        announce()
        assert announced == []
    assert announced == [Event]
    with pytest.raises(RuntimeError), transaction.atomic():
        announce()
        raise RuntimeError("rolled back")
    assert announced == [Event]
    announce()  # no transaction: at once
    assert announced == [Event, Event]


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_layers")
def test_announce_waits_for_the_test_transaction(announced, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        announce(using="default")
        assert announced == []
    assert len(callbacks) == 1 and announced == [Event]
