"""Cron steps: expressions, ticks claimed once in the database, missed ticks coalesced into one run, runs as
events (in-process), and the same on real ``motia_worker`` processes on PostgreSQL + Redis (two workers, each
tick once)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from motia_django.models import CronSchedule, Event, StateEntry
from motia_django.steps.cron import (
    CRON_TOPIC,
    check_expression,
    enqueue_due_ticks,
    enqueue_run,
    next_tick,
    seconds_until,
)
from motia_django.steps.registry import step_registry
from motia_django.testing import run_pending_events
from tests.support.realtime import close_thread_connections
from tests.support.steps import FIXTURES, use_steps
from tests.support.waiting import in_threads

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2026, 5, 4, 10, 0, 30, tzinfo=UTC)  # 30 s past a minute


@pytest.fixture
def cron_steps(settings: Any) -> None:
    use_steps(settings, FIXTURES / "cron", EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=3)


@pytest.fixture
def no_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """No embedded event runner: the first event a test commits would start one, and it enqueues due ticks by
    the real clock, by which the fixtures' NightlyReport (02:30, scheduled from ``T0``) is long overdue."""
    from motia_django.steps import worker

    class Idle:
        running = False

        def notify(self) -> None: ...

        def start(self) -> None: ...

    monkeypatch.setattr(worker, "_background", Idle())


def runs(step: str) -> list[Event]:
    return list(Event.objects.filter(step=step, topic=CRON_TOPIC).order_by("id"))


# --- expressions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "normal"), [
    ("*/5 * * * *", "*/5 * * * *"),
    ("  0  3 * * 1-5 ", "0 3 * * 1-5"),
    ("*/10 * * * * *", "*/10 * * * * *"),  # seconds first, as node-cron
    ("@daily", "@daily"),
    ("@Hourly", "@hourly"),
])
def test_good_expressions(expression, normal):
    assert check_expression(expression) == normal


@pytest.mark.parametrize(("expression", "words"), [
    (None, "non-empty string"),
    ("", "non-empty string"),
    (5, "non-empty string"),
    ("* * *", "3 fields"),
    ("* * * * * * *", "7 fields"),
    ("61 * * * *", "not a valid cron expression"),
    ("every minute", "2 fields"),
    ("@reboot", "unknown macro"),
    ("0 0 31 2 *", "never fires"),
])
def test_bad_expressions(expression, words):
    with pytest.raises(ValueError, match=words):
        check_expression(expression)


def test_next_tick_is_strictly_after_and_read_in_time_zone(settings):
    assert next_tick("* * * * *", T0) == dt.datetime(2026, 5, 4, 10, 1, tzinfo=UTC)
    assert next_tick("* * * * *", dt.datetime(2026, 5, 4, 10, 1, tzinfo=UTC)) == dt.datetime(2026, 5, 4, 10, 2,
                                                                                             tzinfo=UTC)
    assert next_tick("*/20 * * * * *", T0) == dt.datetime(2026, 5, 4, 10, 0, 40, tzinfo=UTC)
    settings.TIME_ZONE = "Europe/Paris"  # 03:00 on the night clocks go forward (UTC+2 from 01:00 UTC)
    tick = next_tick("0 3 * * *", dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert tick == dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_count_ticks():
    from motia_django.steps.cron import count_ticks

    first = dt.datetime(2026, 5, 4, 10, 1, tzinfo=UTC)
    assert count_ticks("* * * * *", first, first, 1000) == 1
    assert count_ticks("* * * * *", first, first + dt.timedelta(minutes=9, seconds=59), 1000) == 10
    assert count_ticks("* * * * * *", first, first + dt.timedelta(days=1), 1000) == 1000  # capped


def test_seconds_until():
    assert seconds_until(None, 5.0) == 5.0
    assert seconds_until(timezone.now() - dt.timedelta(seconds=3), 5.0) == 0.0
    assert 1.5 < seconds_until(timezone.now() + dt.timedelta(seconds=2), 5.0) <= 2.0
    assert seconds_until(timezone.now() + dt.timedelta(hours=2), 5.0) == 5.0


# --- the schedule ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("cron_steps")
def test_steps_load_as_cron_steps():
    assert {s.name for s in step_registry.cron_steps} == {"EveryMinute", "NightlyReport"}
    step = step_registry.get("NightlyReport")
    assert (step.type, step.cron, step.emits, step.is_async) == ("cron", "30 2 * * *", ["cron.report"], True)
    assert step_registry.errors == []


@pytest.mark.usefixtures("cron_steps")
def test_first_sight_schedules_the_next_tick_and_runs_nothing():
    following = enqueue_due_ticks(step_registry.cron_steps, now=T0)
    assert following == dt.datetime(2026, 5, 4, 10, 1, tzinfo=UTC)
    rows = {r.step: r for r in CronSchedule.objects.all()}
    assert rows["EveryMinute"].next_run_at == following and rows["EveryMinute"].cron == "* * * * *"
    assert rows["NightlyReport"].next_run_at == dt.datetime(2026, 5, 5, 2, 30, tzinfo=UTC)
    assert rows["EveryMinute"].last_run_at is None
    assert not Event.objects.exists()


@pytest.mark.usefixtures("cron_steps")
def test_a_due_tick_runs_once():
    enqueue_due_ticks(step_registry.cron_steps, now=T0)
    at = T0 + dt.timedelta(seconds=31)  # 10:01:01
    assert enqueue_due_ticks(step_registry.cron_steps, now=at) == dt.datetime(2026, 5, 4, 10, 2, tzinfo=UTC)
    assert enqueue_due_ticks(step_registry.cron_steps, now=at + dt.timedelta(seconds=1)) == dt.datetime(2026, 5, 4, 10, 2, tzinfo=UTC)
    [event] = runs("EveryMinute")
    assert (event.status, event.attempts, event.topic) == ("pending", 0, "cron")
    assert event.data == {"scheduledAt": "2026-05-04T10:01:00+00:00", "ticks": 1}
    row = CronSchedule.objects.get(step="EveryMinute")
    assert (row.next_run_at, row.last_run_at) == (dt.datetime(2026, 5, 4, 10, 2, tzinfo=UTC), at)
    assert runs("NightlyReport") == []


@pytest.mark.usefixtures("cron_steps")
def test_missed_ticks_run_once():
    enqueue_due_ticks(step_registry.cron_steps, now=T0)
    later = T0 + dt.timedelta(minutes=10)  # nothing ran for ten minutes: ten ticks missed
    enqueue_due_ticks(step_registry.cron_steps, now=later)
    [event] = runs("EveryMinute")
    assert event.data == {"scheduledAt": "2026-05-04T10:01:00+00:00", "ticks": 10}
    assert CronSchedule.objects.get(step="EveryMinute").next_run_at == dt.datetime(2026, 5, 4, 10, 11, tzinfo=UTC)
    assert run_pending_events() == 1
    assert StateEntry.objects.filter(group="cron-runs").count() == 1


@pytest.mark.usefixtures("cron_steps")
def test_a_tick_whose_previous_run_has_not_started_is_merged_into_it():
    enqueue_due_ticks(step_registry.cron_steps, now=T0)
    enqueue_due_ticks(step_registry.cron_steps, now=T0 + dt.timedelta(minutes=1))
    enqueue_due_ticks(step_registry.cron_steps, now=T0 + dt.timedelta(minutes=2))  # the first run is still waiting: no second one
    assert len(runs("EveryMinute")) == 1
    run_pending_events()
    enqueue_due_ticks(step_registry.cron_steps, now=T0 + dt.timedelta(minutes=3))
    assert [e.status for e in runs("EveryMinute")] == ["done", "pending"]


@pytest.mark.usefixtures("cron_steps")
def test_cron_runs_are_events_run_with_handler_context():
    enqueue_due_ticks(step_registry.cron_steps, now=T0)
    enqueue_due_ticks(step_registry.cron_steps, now=T0 + dt.timedelta(minutes=1))
    assert run_pending_events() == 1
    [event] = runs("EveryMinute")
    assert (event.status, event.attempts) == ("done", 1)
    [entry] = StateEntry.objects.filter(group="cron-runs")
    assert entry.key == event.trace_id  # the handler got a context with the run's trace id


@pytest.mark.usefixtures("cron_steps")
def test_an_async_cron_handler_emits_and_updates_state():
    enqueue_due_ticks(step_registry.cron_steps, now=T0)
    enqueue_due_ticks(step_registry.cron_steps, now=dt.datetime(2026, 5, 5, 2, 30, tzinfo=UTC))
    assert run_pending_events() == 3  # EveryMinute (missed ticks), NightlyReport, then ReportSent
    [run] = runs("NightlyReport")
    assert StateEntry.objects.get(group="reports", key="nightly").value == {"runs": 1}
    assert StateEntry.objects.get(group="reports", key="sent").value == run.trace_id
    [sent] = Event.objects.filter(topic="cron.report")
    assert (sent.emitted_by, sent.trace_id, sent.status) == ("NightlyReport", run.trace_id, "done")


@pytest.mark.usefixtures("cron_steps")
def test_a_failing_cron_run_is_retried_like_an_event(monkeypatch):
    def broken(context):
        raise RuntimeError("cron broke")

    monkeypatch.setattr(step_registry.get("EveryMinute"), "handler", broken)
    enqueue_run(step_registry.cron_step("EveryMinute"))
    run_pending_events()
    [event] = runs("EveryMinute")
    assert (event.status, event.attempts) == ("dead", 3)
    assert "RuntimeError: cron broke" in event.last_error


@pytest.mark.usefixtures("cron_steps")
def test_a_changed_expression_starts_again_from_now():
    enqueue_due_ticks(step_registry.cron_steps, now=T0)
    CronSchedule.objects.filter(step="EveryMinute").update(cron="0 * * * *")  # what the previous deploy had
    assert enqueue_due_ticks(step_registry.cron_steps, now=T0 + dt.timedelta(minutes=5)) == dt.datetime(2026, 5, 4, 10, 6, tzinfo=UTC)
    row = CronSchedule.objects.get(step="EveryMinute")
    assert (row.cron, row.next_run_at) == ("* * * * *", dt.datetime(2026, 5, 4, 10, 6, tzinfo=UTC))
    assert runs("EveryMinute") == []


@pytest.mark.usefixtures("cron_steps")
def test_enqueue_run_now():
    event = enqueue_run(step_registry.cron_step("EveryMinute"))
    assert event is not None and event.data["manual"] is True
    assert enqueue_run(step_registry.cron_step("EveryMinute")) is None  # one is already waiting
    with pytest.raises(KeyError):
        enqueue_run(step_registry.cron_step("ReportSent"))
    with pytest.raises(KeyError):
        enqueue_run(step_registry.cron_step("Nope"))


@pytest.mark.usefixtures("cron_steps")
def test_admin_lists_schedules_and_runs_one_now(admin_client, settings):
    from django.urls import reverse

    settings.ROOT_URLCONF = "example_project.urls"  # the admin
    enqueue_due_ticks(step_registry.cron_steps, now=T0)
    url = reverse("admin:motia_django_cronschedule_changelist")
    page = admin_client.get(url).content.decode()
    assert "EveryMinute" in page and "NightlyReport" in page
    rows = list(CronSchedule.objects.order_by("step"))
    CronSchedule.objects.create(step="Gone", cron="* * * * *", next_run_at=T0)  # a step since removed
    response = admin_client.post(url, {"action": "run_now", "_selected_action": [r.pk for r in rows] + [
        CronSchedule.objects.get(step="Gone").pk]}, follow=True)
    text = response.content.decode()
    assert "2 cron run(s) queued." in text and "Gone" in text
    assert len(runs("EveryMinute")) == len(runs("NightlyReport")) == 1


def test_no_cron_steps_no_schedule(settings):
    use_steps(settings, FIXTURES / "flows")
    assert enqueue_due_ticks(step_registry.cron_steps, now=T0) is None
    assert not CronSchedule.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("cron_steps", "no_runner")
def test_concurrent_runners_claim_a_tick_once():
    """Eight threads (eight connections) look at the same due tick at the same moment: one run."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite's in-memory test database takes one at a time)")
    enqueue_due_ticks(step_registry.cron_steps, now=T0)
    at = T0 + dt.timedelta(minutes=3)
    assert in_threads(lambda: enqueue_due_ticks(step_registry.cron_steps, now=at), 8, timeout=30) == []
    assert len(runs("EveryMinute")) == 1 and len(runs("NightlyReport")) == 0


@pytest.mark.django_db(transaction=True)
def test_the_embedded_runner_wakes_for_each_tick(settings):
    """A serving runner sleeps until the next tick (here every second), not until its next poll."""
    from motia_django.steps.worker import BackgroundWorker

    use_steps(settings, FIXTURES / "cron_seconds", WORKER_POLL_SECONDS=30, EVENTS_IN_PROCESS=False)
    worker = BackgroundWorker()
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while StateEntry.objects.filter(group="cron-second-runs").count() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
        close_thread_connections()
    done = runs("EverySecond")
    assert len(done) >= 2 and {e.status for e in done[:2]} == {"done"}
    assert len({e.data["scheduledAt"] for e in done}) == len(done)


# --- real worker processes (PostgreSQL + Redis) ---------------------------------------------------------------


def _worker_env(pg_db: str, redis_url: str, extra: str) -> dict[str, str]:
    import uuid

    from tests.support.server import base_env

    return base_env(pg_db, DJANGO_SETTINGS_MODULE="tests.support.worker_settings", REDIS_URL=redis_url,
                    MOTIA_TEST_WORKER_CHANNEL=f"motia-events-{uuid.uuid4().hex[:8]}",
                    MOTIA_TEST_POLL_SECONDS="0.3", MOTIA_TEST_EXTRA_STEPS=extra)


@pytest.fixture(scope="module")
def pg_db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.support.server import postgres_live_database

    with postgres_live_database(tmp_path_factory.mktemp("cron")) as db_url:
        yield db_url


@pytest.mark.services
@pytest.mark.e2e
def test_two_workers_run_each_forced_tick_once(pg_db, redis_url, tmp_path):
    """Per-minute cron, time made to pass by moving the schedule's next tick into the past (as if ten minutes
    had gone by with no worker running): each forced tick is one run, on one of the two workers."""
    from tests.steps.test_worker import Worker, sql, wait_for

    env = _worker_env(pg_db, redis_url, "cron")
    first, second = Worker(env, tmp_path), Worker(env, tmp_path)
    try:
        wait_for(lambda: sql(pg_db, "SELECT 1 FROM motia_django_cronschedule WHERE step = 'EveryMinute'"),
                 what="the schedule row")
        [(minute,)] = sql(pg_db, "SELECT date_trunc('minute', now())")
        forced = []
        for round_ in range(3):  # 10, 12 and 14 minutes before this minute: distinct ticks, all in the past
            tick = minute - dt.timedelta(minutes=10 + 2 * round_)
            sql(pg_db, "UPDATE motia_django_cronschedule SET next_run_at = %s WHERE step = 'EveryMinute' RETURNING 1",
                tick)
            forced.append(tick)
            wait_for(lambda tick=tick: sql(pg_db, "SELECT 1 FROM motia_django_event WHERE step = 'EveryMinute' AND "
                                                  "status = 'done' AND (data->>'scheduledAt')::timestamptz = %s",
                                           tick), what=f"the run of forced tick {round_}")
        time.sleep(1)  # time for a duplicate to show up, if there were one
        events = sql(pg_db, "SELECT (data->>'scheduledAt')::timestamptz, (data->>'ticks')::int, status, attempts, "
                            "trace_id FROM motia_django_event WHERE step = 'EveryMinute' ORDER BY id")
        ticks = [row[0] for row in events]
        assert len(ticks) == len(set(ticks)), events  # no tick ran twice (a real minute may have passed too)
        assert all(ticks.count(t) == 1 for t in forced)
        assert all(row[1] >= 10 for row in events if row[0] in forced)  # ten or more missed ticks: one run
        assert all((row[2], row[3]) == ("done", 1) for row in events), events
        recorded = sql(pg_db, "SELECT key, (value->>'pid')::int FROM motia_django_stateentry WHERE \"group\" = "
                              "'cron-runs'")
        assert sorted(key for key, _ in recorded) == sorted(row[4] for row in events)  # each run's handler once
        assert {pid for _, pid in recorded} <= {first.proc.pid, second.proc.pid}
        [(next_run,)] = sql(pg_db, "SELECT next_run_at > now() FROM motia_django_cronschedule "
                                   "WHERE step = 'EveryMinute'")
        assert next_run
    finally:
        first.stop()
        second.stop()


@pytest.mark.services
@pytest.mark.e2e
def test_two_workers_race_for_every_second_tick(pg_db, redis_url, tmp_path):
    """Every second both workers wake at the same tick and race for it: each tick runs once."""
    from tests.steps.test_worker import Worker, sql, wait_for

    env = _worker_env(pg_db, redis_url, "cron_seconds")
    workers = [Worker(env, tmp_path), Worker(env, tmp_path)]
    try:
        wait_for(lambda: len(sql(pg_db, "SELECT 1 FROM motia_django_event WHERE step = 'EverySecond' "
                                        "AND status = 'done'")) >= 4, 20, "four ticks")
    finally:
        for worker in workers:
            worker.stop()
    events = sql(pg_db, "SELECT data->>'scheduledAt', status, attempts, trace_id FROM motia_django_event "
                        "WHERE step = 'EverySecond' ORDER BY id")
    ticks = [row[0] for row in events]
    assert len(ticks) == len(set(ticks)), events
    assert all((status, attempts) in {("done", 1), ("pending", 0)} for _, status, attempts, _ in events), events
    recorded = {key for (key,) in sql(pg_db, "SELECT key FROM motia_django_stateentry "
                                             "WHERE \"group\" = 'cron-second-runs'")}
    assert {e[3] for e in events if e[1] == "done"} <= recorded <= {e[3] for e in events}
    for worker in workers:
        assert worker.proc.returncode == 0, worker.log()
