"""``motia_django.asgi`` and the embedded server's event runner: the ASGI lifespan stops it; and a real Daphne
or uvicorn (events in the server process) stopped with SIGTERM in the middle of an event and started again:
the running event is given back, and the restarted server runs it at once, as it starts (no request needed),
so the reply completes within seconds of the restart and nothing is lost. The database is the suite's kind
(a SQLite file, or PostgreSQL in the PostgreSQL run)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.server import LiveServer, base_env
from tests.support.waiting import wait_for

WORDS = [f"w{n}" for n in range(1, 21)]  # "echo: w1 ... w20": 21 tokens, 100 ms apart: about 2 s per reply
REPLY = "echo: " + " ".join(WORDS)


def query(database_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows straight from the live server's database (SQLite file or PostgreSQL); ``%s`` placeholders."""
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.split("sqlite:///", 1)[1], timeout=20) as conn:
            return list(conn.execute(sql.replace("%s", "?"), args).fetchall())
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return list(conn.execute(sql, args).fetchall())


def reply(database_url: str, trace_id: str) -> str:
    rows = query(database_url, "SELECT data FROM motia_django_streamitem WHERE stream = 'openai' AND group_id = %s "
                               "AND item_id = 'message'", trace_id)
    if not rows:
        return ""
    data = rows[0][0] if isinstance(rows[0][0], dict) else json.loads(rows[0][0])
    return str(data.get("message", ""))




async def test_lifespan_shutdown_stops_the_runner(monkeypatch):
    from motia_django.asgi import lifespan
    from motia_django.steps import worker

    stopped: list[bool] = []

    class Fake:
        def stop(self) -> int:
            stopped.append(True)
            return 0

    monkeypatch.setattr(worker, "_background", Fake())
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await lifespan({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert stopped == [True]


@pytest.mark.e2e
@pytest.mark.parametrize("server_kind", ["daphne", "uvicorn"])
def test_a_restarted_server_finishes_the_event_it_was_running(live_db_url, tmp_path, server_kind):
    from tests.steps.test_views import http

    env = base_env(live_db_url, FAKE_LLM_DELAY_MS="100", MOTIA_EVENT_LEASE_SECONDS="300")
    server = LiveServer(env, log_dir=tmp_path, server=server_kind)
    with server:
        status, item, _ = http(server, "POST", "/open-ai", {"message": " ".join(WORDS)})
        assert status == 200, item
        trace_id = item["__motia"]["groupId"]
        wait_for(lambda: len(reply(live_db_url, trace_id).split()) >= 4, 10, "the reply to start streaming")
        server.stop()  # SIGTERM in the middle of the reply
        partial = reply(live_db_url, trace_id)
        assert partial != REPLY, "the reply finished before the server stopped: make it longer"
        [(status, attempts, locked_by)] = query(
            live_db_url, "SELECT status, attempts, locked_by FROM motia_django_event WHERE trace_id = %s", trace_id)
        assert (status, attempts, locked_by) == ("pending", 0, ""), server.log()[-3000:]  # given back

        server.start()  # no request from here on: the runner starts with the server
        restarted = time.monotonic()
        wait_for(lambda: reply(live_db_url, trace_id) == REPLY, 5, "the reply to complete after the restart")
        assert time.monotonic() - restarted < 5
        wait_for(lambda: query(live_db_url, "SELECT status, attempts FROM motia_django_event WHERE trace_id = %s",
                               trace_id) == [("done", 1)], 5, "the event to be done")
    assert len(query(live_db_url, "SELECT id FROM motia_django_event WHERE trace_id = %s", trace_id)) == 1


# --- the Router: which paths are API steps, and the req it builds from the ASGI scope ----------------------


@pytest.fixture
def steps_settings(settings: Any) -> Any:
    """The flows fixture steps (``POST /echo/:kind/:id``...) served for ``Host: localhost``."""
    from tests.support.steps import FIXTURES, use_steps

    use_steps(settings, FIXTURES / "flows")
    settings.ALLOWED_HOSTS = ["localhost"]
    return settings


async def test_the_router_gives_a_step_the_scopes_headers_as_django_reads_them(steps_settings):
    from motia_django.asgi import Router
    from tests.steps.test_handler_middleware import Receive, asgi

    body = b'{"x": 1}'
    status, _headers, raw = await asgi(
        Router(), "POST", "/echo/a/b", receive=Receive({"type": "http.request", "body": body}),
        headers=[(b"content-type", b"application/json"), (b"X-Thing", b"one"), (b"x-thing", b"two"),
                 (b"x_thing", b"spoofed"), (b"content-length", str(len(body)).encode())])
    assert status == 200
    req = json.loads(raw)["req"]
    assert req["body"] == {"x": 1} and req["pathParams"] == {"kind": "a", "id": "b"}
    # lower-case names, repeats joined with "," and a name holding "_" dropped (Django's rule against spoofing)
    assert req["headers"]["x-thing"] == "one,two"
    assert "x_thing" not in req["headers"] and req["headers"]["host"] == "localhost"


@pytest.mark.parametrize("path", ["/echo/a/b", "/nothing-here", "/admin/"])
def test_step_routes_answer_as_the_resolver_does(steps_settings, path):
    from django.urls import Resolver404, get_resolver

    from motia_django.asgi import StepRoutes
    from motia_django.steps.views import StepView

    routes = StepRoutes(StepView)
    for _ in range(2):  # resolved, then kept
        found = routes.match(path)
        try:
            expected = get_resolver().resolve(path)
        except Resolver404:
            expected = None
        if expected is None or not issubclass(getattr(expected.func, "view_class", object), StepView):
            assert found is None
        else:
            assert found is not None and (found.func, found.kwargs) == (expected.func, expected.kwargs)


def test_step_routes_are_bounded_in_items_and_bytes_and_copied_per_request(steps_settings):
    from motia_django.asgi import StepRoutes
    from motia_django.steps.views import StepView

    routes = StepRoutes(StepView, size=2, max_path=40)
    first = routes.match("/echo/a/b")
    assert first is not None
    first.kwargs["kind"] = "edited by a middleware"
    assert routes.match("/echo/a/b").kwargs == {"kind": "a", "id": "b"}  # each request its own copy
    for n in range(5):
        routes.match(f"/echo/a/{n}")
    assert len(routes.seen) == 2  # the paths seen last
    long = "/echo/a/" + "x" * 100
    assert routes.match(long).kwargs["id"] == "x" * 100 and long not in routes.seen  # resolved, never kept


def test_step_routes_start_afresh_with_a_new_urlconf(steps_settings):
    from django.urls import clear_url_caches

    from motia_django.asgi import StepRoutes
    from motia_django.steps.views import StepView

    routes = StepRoutes(StepView)
    assert routes.match("/echo/a/b") is not None
    clear_url_caches()
    steps_settings.ROOT_URLCONF = "tests.test_asgi"  # a URLconf without the steps
    assert routes.match("/echo/a/b") is None


urlpatterns: list[Any] = []


# --- the collector ----------------------------------------------------------------------------------------


@pytest.fixture
def collector() -> Any:
    import gc

    before = gc.get_threshold()
    yield gc
    gc.set_threshold(*before)
    gc.unfreeze()


def test_tune_gc_raises_the_threshold_and_freezes_what_is_loaded(settings, collector):
    from motia_django.asgi import tune_gc

    settings.MOTIA = {"GC_THRESHOLD": 12_345}
    collector.unfreeze()
    tune_gc()
    assert collector.get_threshold()[0] == 12_345
    assert collector.get_freeze_count() > 0


def test_tune_gc_none_leaves_the_collector_alone(settings, collector):
    from motia_django.asgi import tune_gc

    settings.MOTIA = {"GC_THRESHOLD": None}
    collector.unfreeze()
    before = collector.get_threshold()
    tune_gc()
    assert collector.get_threshold() == before and collector.get_freeze_count() == 0


@pytest.mark.parametrize("value", ["10000", 0, -5, 1.5, True])
def test_a_bad_gc_threshold_is_a_check_error(settings, value):
    from motia_django.checks import check_settings

    settings.MOTIA = {"GC_THRESHOLD": value}
    assert "motia_django.E020" in [e.id for e in check_settings()]
