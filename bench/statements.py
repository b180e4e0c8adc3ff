"""Database statements per operation, counted (not timed): the units of docs/scaling.md's model.

    DATABASE_URL=postgres://127.0.0.1:5432/postgres .venv/bin/python bench/statements.py   # a fresh database
    .venv/bin/python bench/statements.py                                                   # SQLite file

Runs the example project's settings on a fresh database (created and dropped on PostgreSQL) and counts, with
a counter on Django's cursor wrapper (every connection and thread: the write queue runs on its own), the
statements of: a stream item created, replaced and deleted through the
stream API; ``POST /chat-messages`` through the whole request path (middleware, DRF, the step); a presence
batch of 100 arrivals and of 100 departures; a presence renewal with 100 members. Prints JSON.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _database() -> tuple[str, Any]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        path = Path(tempfile.mkdtemp(prefix="motia-statements-")) / "db.sqlite3"
        return f"sqlite:///{path}", None
    import psycopg

    name = f"motia_statements_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{url.rstrip('/').rsplit('/', 1)[0]}/{name}", drop


def main() -> None:
    url, drop = _database()
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="example_project.settings", DJANGO_DEBUG="0",
                      DJANGO_SECRET_KEY="bench-only", FAKE_LLM_DELAY_MS="0", MOTIA_LOG_LEVEL="WARNING")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(json.dumps(count(), indent=1))
    finally:
        if drop is not None:
            from django.db import connections

            connections.close_all()
            drop()


def count() -> dict[str, Any]:
    from django.db import connection
    from django.db.backends import utils
    from django.test import Client

    from motia_django.realtime import presence
    from motia_django.stream.registry import registry

    seen = [0]
    for name in ("execute", "executemany"):
        original = getattr(utils.CursorWrapper, name)

        def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            seen[0] += 1
            return _original(self, *args, **kwargs)

        setattr(utils.CursorWrapper, name, counted)

    def statements(fn: Any) -> int:
        before = seen[0]
        fn()
        return seen[0] - before

    chat = registry.get("chatMessage")
    room = f"st-{uuid.uuid4().hex[:6]}"
    item = {"id": "a", "user_id": "u", "message": "hello", "timestamp": "2026-12-03T00:00:00Z"}
    res: dict[str, Any] = {"vendor": connection.vendor}
    res["stream set, create"] = statements(lambda: chat.set(room, "a", item))
    res["stream set, replace"] = statements(lambda: chat.set(room, "a", {**item, "message": "again"}))
    res["stream delete"] = statements(lambda: chat.delete(room, "a"))
    client = Client(HTTP_HOST="localhost")
    body = json.dumps({"channel_id": room, "message": "hi"})
    client.post("/chat-messages", body, content_type="application/json")  # warm: sessions table, caches
    statuses: list[int] = []
    res["POST /chat-messages"] = statements(
        lambda: statuses.append(client.post("/chat-messages", body, content_type="application/json").status_code))
    assert statuses == [201], statuses
    trackers = presence.presence_streams("chatMessage")
    members = [f"{presence.new_connection_id()}" for _ in range(100)]
    arrivals = [presence.Arrival(t, room, m, m, {"streamName": "chatMessage", "groupId": room}, None)
                for t in trackers for m in members]
    res["presence: 100 arrivals in one batch"] = statements(lambda: presence.apply(list(arrivals)))
    res["presence: renewal, 100 members"] = statements(presence.renew)
    departures = [presence.Departure(t, room, m, m) for t in trackers for m in members]
    res["presence: 100 departures in one batch"] = statements(lambda: presence.apply(list(departures)))
    return res


if __name__ == "__main__":
    main()
