"""Stopping a runner gives its events back: in-process ``BackgroundWorker.stop()`` and ``release_events``, and
``get_asgi_application()`` starting the embedded runner (the real servers and workers: tests/test_asgi.py and
tests/test_worker.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from motia_django import emit
from motia_django.models import Event, StateEntry
from motia_django.steps.event_queue import claim_events, release_events
from motia_django.steps.worker import BackgroundWorker
from motia_django.testing import run_pending_events
from tests.support.realtime import close_thread_connections
from tests.support.steps import FIXTURES, use_steps
from tests.support.waiting import wait_for


@pytest.fixture
def worker_steps(settings: Any) -> None:
    use_steps(settings, FIXTURES / "worker", EVENT_LEASE_SECONDS=600, EVENTS_IN_PROCESS=False)  # runners: ours




@pytest.fixture
def background() -> Iterator[BackgroundWorker]:
    worker = BackgroundWorker()
    yield worker
    worker.stop()
    close_thread_connections()


@pytest.mark.django_db
@pytest.mark.usefixtures("worker_steps")
def test_release_events_returns_a_workers_events_due_now():
    emit({"topic": "worker.count", "data": {"n": "a"}})
    emit({"topic": "worker.count", "data": {"n": "b"}})
    [mine] = claim_events("me", 1, background=False)
    [theirs] = claim_events("them", 1, background=False)
    before = timezone.now()
    assert release_events("me") == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, mine.attempts, mine.locked_by, mine.lease_until) == ("pending", 0, "", None)
    assert mine.available_at >= before and mine.available_at <= timezone.now()
    assert (theirs.status, theirs.locked_by) == ("running", "them")
    assert release_events("me") == 0
    assert run_pending_events() == 1  # due at once, not after the lease


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker_steps")
def test_stop_cancels_a_running_handler_and_gives_its_event_back(background):
    background.start()
    emit({"topic": "worker.slow", "data": {"key": "k1"}})
    background.notify()
    wait_for(lambda: StateEntry.objects.filter(group="slow-started", key="k1").exists(), what="the handler")
    [event] = Event.objects.filter(topic="worker.slow")
    assert (event.status, event.attempts) == ("running", 1)

    started = time.monotonic()
    assert background.stop() == 1
    assert time.monotonic() - started < 5  # the handler (asleep for 120 s) was interrupted
    assert not background.running
    event.refresh_from_db()
    assert (event.status, event.attempts, event.locked_by, event.lease_until) == ("pending", 0, "", None)
    assert event.available_at <= timezone.now()

    background.start()  # a stopped worker stays stopped
    assert not background.running
    assert run_pending_events() == 1  # the next runner takes it up at once: delivery is at least once
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("done", 1)
    assert StateEntry.objects.filter(group="slow-done", key="k1").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker_steps")
def test_stop_of_an_idle_worker_gives_back_nothing(background):
    background.start()
    wait_for(lambda: background.runner is not None, what="the runner")
    assert background.stop() == 0
    assert not background.running


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker_steps")
def test_connections_the_database_dropped_fail_no_later_event(background):
    """The database closes every connection between two events (a restart, an idle timeout, a pooler): the runner
    and its sync handlers' threads open new ones, as Django does between requests, and the next event runs at
    its first attempt."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    background.start()
    emit({"topic": "worker.count", "data": {"n": "a"}})
    background.notify()
    wait_for(lambda: Event.objects.filter(topic="worker.count", status="done").exists(), what="the first event")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cursor.fetchone()[0] >= 1
    emit({"topic": "worker.count", "data": {"n": "b"}})
    background.notify()
    wait_for(lambda: Event.objects.filter(topic="worker.count", status="done").count() == 2, timeout=20,
             what="the second event")
    second = Event.objects.get(topic="worker.count", data__n="b")
    assert second.attempts == 1 and StateEntry.objects.filter(group="runs", key="b").exists()


def test_stop_before_the_thread_began_runs_nothing():
    worker = BackgroundWorker()
    assert worker.stop() == 0
    worker.start()
    assert not worker.running


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kwargs", "started"), [({}, True), ({"run_events": False}, False)])
def test_get_asgi_application_starts_the_embedded_runner(monkeypatch, settings, kwargs, started):
    """Building the server's application starts the runner when events run in process (the embedded default:
    the in-memory layer), so events left by a previous run do not wait for the first request."""
    from motia_django.asgi import get_asgi_application
    from motia_django.steps import worker

    settings.MOTIA = {}  # the default: in process with the in-memory layer (the test settings turn it off)
    fresh = BackgroundWorker()
    monkeypatch.setattr(worker, "_background", fresh)
    try:
        get_asgi_application(**kwargs)
        assert fresh.running is started
    finally:
        fresh.stop()
        close_thread_connections()


@pytest.mark.django_db(transaction=True)
def test_get_asgi_application_leaves_events_to_the_workers_without_in_process_events(monkeypatch, settings):
    from motia_django.asgi import get_asgi_application
    from motia_django.steps import worker

    settings.MOTIA = {"EVENTS_IN_PROCESS": False}
    fresh = BackgroundWorker()
    monkeypatch.setattr(worker, "_background", fresh)
    get_asgi_application()
    assert not fresh.running


# --- bounded work: an attempt that runs too long fails, and is retried by the usual policy (issue #18) ------------

SLEEPY = '''import asyncio

config = {"type": "event", "name": "Sleepy", "subscribes": ["sleepy"], "emits": [], "timeout": 0.2}


async def handler(input, context):
    await asyncio.sleep(60)
'''


@pytest.mark.django_db
def test_a_step_over_its_own_timeout_fails_each_attempt_and_ends_dead(settings, tmp_path):
    (tmp_path / "sleepy_step.py").write_text(SLEEPY)
    use_steps(settings, tmp_path, EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=2, EVENTS_IN_PROCESS=False)
    emit({"topic": "sleepy", "data": {}})
    started = time.monotonic()
    run_pending_events()  # both attempts, each cut at 0.2 s (the project's default is 300 s)
    assert time.monotonic() - started < 30  # not the handler's 60 s, twice
    event = Event.objects.get(topic="sleepy")
    assert (event.status, event.attempts) == ("dead", 2)
    assert "step 'Sleepy' ran longer than its timeout of 0.2s" in event.last_error


@pytest.mark.django_db
@pytest.mark.usefixtures("worker_steps")
def test_event_timeout_seconds_is_the_default_and_a_timed_out_attempt_is_retried(settings):
    """The Slow step sleeps 120 s on its first attempt only: under EVENT_TIMEOUT_SECONDS = 0.3 that attempt fails,
    the retry finishes."""
    settings.MOTIA = {**settings.MOTIA, "EVENT_TIMEOUT_SECONDS": 0.3, "EVENT_RETRY_BACKOFF": 0}
    emit({"topic": "worker.slow", "data": {"key": "k"}})
    run_pending_events()
    event = Event.objects.get(topic="worker.slow")
    assert (event.status, event.attempts) == ("done", 2)
    assert StateEntry.objects.filter(group="slow-done", key="k").exists()


SLEEPY_CRON = '''import asyncio

config = {"type": "cron", "name": "SleepyCron", "cron": "0 3 * * *", "emits": [], "timeout": 0.2}


async def handler(context):
    await asyncio.sleep(60)
'''


@pytest.mark.django_db
def test_a_cron_step_over_its_timeout_fails_its_run(settings, tmp_path):
    from motia_django.steps.cron import enqueue_run
    from motia_django.steps.registry import step_registry

    (tmp_path / "sleepy_cron_step.py").write_text(SLEEPY_CRON)
    use_steps(settings, tmp_path, EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=1, EVENTS_IN_PROCESS=False)
    run = enqueue_run(step_registry.cron_step("SleepyCron"))  # "run now", as the admin's action does
    assert run is not None
    started = time.monotonic()
    run_pending_events()
    assert time.monotonic() - started < 30
    run.refresh_from_db()
    assert run.status == "dead" and "step 'SleepyCron' ran longer than its timeout of 0.2s" in run.last_error
