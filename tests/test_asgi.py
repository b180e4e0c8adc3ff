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
