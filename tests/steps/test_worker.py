"""Event steps on real ``manage.py motia_worker`` processes, with Redis and PostgreSQL (the scaled-out setup):
events stored while no worker runs, several workers sharing events, retries to dead, a worker stopped
(SIGTERM/SIGINT: its events given back at once) or killed (SIGKILL: its events run after the lease) in the
middle of a handler, and the example's /open-ai flow through Daphne + motia_worker. Channels' ``manage.py runworker``
on the wake-up channel does the same: it claims waiting events and expired leases as it starts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ROOT, LiveServer, base_env, manage, postgres_live_database
from tests.support.waiting import wait_for as _wait_for

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture(scope="module")
def pg_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_live_database(tmp_path_factory.mktemp("worker")) as db_url:
        yield db_url


@pytest.fixture
def env(pg_db: str, redis_url: str) -> dict[str, str]:
    return base_env(pg_db, DJANGO_SETTINGS_MODULE="tests.support.worker_settings", REDIS_URL=redis_url,
                    MOTIA_TEST_WORKER_CHANNEL=f"motia-events-{uuid.uuid4().hex[:8]}",
                    MOTIA_TEST_LEASE_SECONDS="2", MOTIA_TEST_POLL_SECONDS="0.3")


def sql(db_url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        return list(conn.execute(query, args).fetchall())


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    return _wait_for(condition, timeout, what, interval=0.1)  # real processes: longer by default


class Worker:
    """One ``manage.py motia_worker`` process (or another ``command``, e.g. Channels' ``runworker``) on the test's
    own wake-up channel, logging to a file; started once its event runner says so."""

    def __init__(self, env: dict[str, str], log_dir: Path, command: tuple[str, ...] = ("motia_worker",)) -> None:
        self.env = env
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *command],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: "motia events worker" in self.log() or self.proc.poll() is not None, 30, "worker start")
        assert self.proc.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, as a process manager stops it: it gives its events back and exits 0."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(env_: dict[str, str] | None = None, **kwargs: Any) -> Worker:
        worker = Worker(env_ or env, tmp_path, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def emit(env: dict[str, str], *events: dict[str, Any]) -> None:
    """Emit from a separate process, as plain Django code does (``motia_django.emit``)."""
    code = ("import json, os\nfrom motia_django import emit\n"
            "for e in json.loads(os.environ['MOTIA_TEST_EVENTS']): emit(e)")
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
                            env={**env, "MOTIA_TEST_EVENTS": json.dumps(list(events))}, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def statuses(db_url: str, topic: str) -> list[tuple[str, int]]:
    return [(s, a) for s, a in sql(db_url, "SELECT status, attempts FROM motia_django_event WHERE topic = %s "
                                           "ORDER BY id", topic)]


def test_events_stored_while_no_worker_runs_are_handled_when_one_starts(env, pg_db, workers):
    emit(env, {"topic": "worker.count", "data": {"n": "before-start"}})
    assert statuses(pg_db, "worker.count")[-1] == ("pending", 0)
    workers()
    wait_for(lambda: sql(pg_db, "SELECT 1 FROM motia_django_stateentry WHERE \"group\" = 'runs' "
                                "AND key = 'before-start'"), what="the event to run")


def test_a_stream_trigger_survives_a_worker_restart(env, pg_db, workers):
    """The example's CountTodos runs on todos changes: a change made while the worker is stopped is stored with
    its triggered event, and the worker started again runs it."""
    workers().stop()
    code = "from example_project.todo.models import Todo\nTodo.objects.create(list_id='restart', title='a')"
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", code], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert statuses(pg_db, "stream:todos")[-1] == ("pending", 0)
    workers()
    counts = wait_for(lambda: sql(pg_db, "SELECT data FROM motia_django_streamitem WHERE stream = 'todoStats' "
                                         "AND group_id = 'restart'"), what="the triggered step to run")
    assert counts[0][0] == {"total": 1, "done": 0}


def test_several_workers_each_event_runs_once(env, pg_db, workers):
    first, second = workers(), workers()
    emit(env, *({"topic": "worker.count", "data": {"n": f"many-{n}"}} for n in range(30)))
    wait_for(lambda: len(sql(pg_db, "SELECT 1 FROM motia_django_event WHERE topic = 'worker.count' AND "
                                    "data->>'n' LIKE 'many-%%' AND status = 'done'")) == 30,
             what="30 events done")
    rows = sql(pg_db, "SELECT attempts FROM motia_django_event WHERE data->>'n' LIKE 'many-%%'")
    assert all(attempts == 1 for (attempts,) in rows)
    pids = {v for (v,) in sql(pg_db, "SELECT value FROM motia_django_stateentry WHERE key LIKE 'many-%%'")}
    assert pids <= {first.proc.pid, second.proc.pid}


def test_failures_retry_then_dead(env, pg_db, workers):
    workers()
    emit(env, {"topic": "worker.doomed", "data": {}})
    wait_for(lambda: statuses(pg_db, "worker.doomed") == [("dead", 2)], what="the event to be dead")
    [(error,)] = sql(pg_db, "SELECT last_error FROM motia_django_event WHERE topic = 'worker.doomed'")
    assert "RuntimeError: doomed in the worker" in error


def test_a_worker_killed_mid_handler_loses_nothing(env, pg_db, workers):
    """SIGKILL gives nothing back: the event runs again once its lease (2 s here) has expired, not before."""
    first = workers()
    emit(env, {"topic": "worker.slow", "data": {"key": "k1"}})
    wait_for(lambda: sql(pg_db, "SELECT 1 FROM motia_django_stateentry WHERE \"group\" = 'slow-started' "
                                "AND key = 'k1'"), what="the handler to start")
    assert statuses(pg_db, "worker.slow") == [("running", 1)]
    first.kill()
    killed_at = time.monotonic()
    [(lease_left,)] = sql(pg_db, "SELECT extract(epoch FROM lease_until - now()) FROM motia_django_event "
                                 "WHERE topic = 'worker.slow'")
    second = workers()
    wait_for(lambda: statuses(pg_db, "worker.slow") == [("done", 2)], 30, "the next worker to finish it")
    assert time.monotonic() - killed_at >= float(lease_left) - 0.2  # after the lease, not before
    [(pid,)] = sql(pg_db, "SELECT value FROM motia_django_stateentry WHERE \"group\" = 'slow-done'")
    assert pid == second.proc.pid


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_worker_gives_its_events_back_at_once(env, pg_db, workers, sig):
    """SIGTERM / Ctrl-C: the worker stops claiming, interrupts the handler, returns its event to pending (due
    now, the attempt not counted) and exits 0; the next worker runs it at once, long before the 120 s lease."""
    env = {**env, "MOTIA_TEST_LEASE_SECONDS": "120"}
    key = f"stop-{sig.name}"
    first = workers(env)
    emit(env, {"topic": "worker.slow", "data": {"key": key}})
    wait_for(lambda: sql(pg_db, "SELECT 1 FROM motia_django_stateentry WHERE \"group\" = 'slow-started' "
                                "AND key = %s", key), what="the handler to start")
    first.proc.send_signal(sig)
    assert first.proc.wait(10) == 0, first.log()
    assert "1 running event(s) given back" in first.log()
    [(status, attempts, locked_by, due)] = sql(
        pg_db, "SELECT status, attempts, locked_by, available_at <= now() FROM motia_django_event "
               "WHERE data->>'key' = %s", key)
    assert (status, attempts, locked_by, due) == ("pending", 0, "", True)
    started = time.monotonic()
    second = workers(env)
    wait_for(lambda: sql(pg_db, "SELECT 1 FROM motia_django_event WHERE data->>'key' = %s AND status = 'done' "
                                "AND attempts = 1", key), 15, "the next worker to finish it")
    assert time.monotonic() - started < 15
    [(pid,)] = sql(pg_db, "SELECT value FROM motia_django_stateentry WHERE \"group\" = 'slow-done' AND key = %s",
                   key)
    assert pid == second.proc.pid


def runworker(workers: Callable[..., Worker], env: dict[str, str]) -> Worker:
    """Channels' ``manage.py runworker <WORKER_CHANNEL>``, the worker the Django world knows."""
    return workers(command=("runworker", env["MOTIA_TEST_WORKER_CHANNEL"]))  # its runner says it started


def test_runworker_handles_events_stored_while_no_worker_ran_without_a_wake_up(env, pg_db, workers):
    key = f"rw-{uuid.uuid4().hex[:6]}"
    emit(env, {"topic": "worker.count", "data": {"n": key}})  # its wake-up reaches no one: no worker listens
    runworker(workers, env)
    wait_for(lambda: sql(pg_db, "SELECT 1 FROM motia_django_stateentry WHERE \"group\" = 'runs' AND key = %s", key),
             what="runworker to claim the waiting event as it starts")


def test_runworker_restarted_after_a_sigkill_claims_the_expired_lease(env, pg_db, workers):
    """A runworker killed mid-handler leaves its event running; a new runworker claims it once the lease (2 s) has
    run out, with no new event arriving to wake it."""
    key = f"rw-kill-{uuid.uuid4().hex[:6]}"
    first = runworker(workers, env)
    emit(env, {"topic": "worker.slow", "data": {"key": key}})
    wait_for(lambda: sql(pg_db, "SELECT 1 FROM motia_django_stateentry WHERE \"group\" = 'slow-started' "
                                "AND key = %s", key), what="the handler to start")
    first.kill()
    second = runworker(workers, env)
    wait_for(lambda: sql(pg_db, "SELECT 1 FROM motia_django_event WHERE data->>'key' = %s AND status = 'done' "
                                "AND attempts = 2", key), 30, "the restarted runworker to finish it")
    [(pid,)] = sql(pg_db, "SELECT value FROM motia_django_stateentry WHERE \"group\" = 'slow-done' AND key = %s",
                   key)
    assert pid == second.proc.pid


def test_open_ai_through_daphne_and_motia_worker(env, pg_db, workers, tmp_path):
    from tests.steps.test_views import http, stream_item

    workers()
    with LiveServer(env, log_dir=tmp_path) as server:
        status, item, _ = http(server, "POST", "/open-ai", {"message": "scaled out"})
        assert status == 200, item
        trace_id = item["__motia"]["groupId"]
        wait_for(lambda: (stream_item(pg_db, "openai", trace_id, "message") or {}).get("message")
                 == "echo: scaled out", what="the reply to be streamed by the worker")
    [(step, locked_by)] = sql(pg_db, "SELECT step, locked_by FROM motia_django_event WHERE trace_id = %s", trace_id)
    assert step == "CallOpenAi" and locked_by  # run by the worker, not by Daphne


def test_manage_check_is_clean(env):
    assert "no issues" in manage(env, "check").stdout
