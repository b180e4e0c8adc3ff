"""The hot-group limit: how many writes a second one group takes on PostgreSQL, where each write bumps the
group's sequence row and holds its lock until it commits (docs/scaling.md).

    .venv/bin/python bench/hot_group.py [--postgres-url postgres://127.0.0.1:5432/postgres] [--seconds 5]

Takes the one statement a stream ``set`` sends on PostgreSQL (captured from the stream API on a fresh, migrated
database) and runs it with ``pgbench`` from 1, 4 and 16 clients: every write to one group (the hot group), and
every write to a random one of 10,000 groups. The gap between the two is the group row's serialization; the spread
figure is what the database takes from many groups at once. No Python in the measured path: the servers' own
cost per write is in ``bench/run.py``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def set_statement(url: str) -> str:
    """The SQL of one ``chatMessage.set`` create, from the stream API on the database at ``url``."""
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="example_project.settings", DJANGO_DEBUG="0",
                      DJANGO_SECRET_KEY="bench-only", MOTIA_LOG_LEVEL="WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from motia_django.stream.registry import registry

    call_command("migrate", verbosity=0)
    chat = registry.get("chatMessage")
    item = {"id": "ITEMX", "user_id": "u", "message": "hello", "timestamp": "2026-12-03T00:00:00Z"}
    chat.set("GROUPX", "ITEMX", item)  # the group row exists, as for every group but a new one's first write
    with CaptureQueriesContext(connection) as captured:
        chat.set("GROUPX", "ITEMY", {**item, "id": "ITEMY"})
    connection.close()
    [query] = [q["sql"] for q in captured.captured_queries]
    return query


def pgbench(url: str, script: str, clients: int, seconds: float) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    out = subprocess.run(["pgbench", "-n", "-M", "simple", "-c", str(clients), "-j", str(min(clients, 2)),
                          "-T", str(int(seconds)), "-f", f.name, url], capture_output=True, text=True, timeout=120)
    os.unlink(f.name)
    found = re.search(r"tps = ([0-9.]+)", out.stdout)
    if out.returncode or not found:
        raise RuntimeError(out.stderr[-1000:] or out.stdout[-1000:])
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default=os.environ.get("MOTIA_TEST_POSTGRES_URL",
                                                                 "postgres://127.0.0.1:5432/postgres"))
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    import psycopg

    name = f"motia_hot_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.postgres_url.rstrip('/').rsplit('/', 1)[0]}/{name}"
    res: dict[str, Any] = {}
    try:
        sql = set_statement(url)
        # pgbench fills :g and :n in (simple protocol: as text, quotes included); each write a new item
        body = sql.replace("'GROUPX'", "'g-' || :g").replace("'ITEMY'", "'i-' || :n").replace('"ITEMY"', '"i"')
        with psycopg.connect(url, autocommit=True) as conn:  # the 10,000 groups' rows, as in a running system
            conn.execute("INSERT INTO motia_django_streamgroup (stream, group_id, seq, floor) "
                         "SELECT 'chatMessage', 'g-' || i, 0, 0 FROM generate_series(1, 10000) i "
                         "ON CONFLICT DO NOTHING")
        for clients in (1, 4, 16):
            for label, pick in (("one group", "\\set g 1"), ("10,000 groups", "\\set g random(1, 10000)")):
                script = f"{pick}\n\\set n random(1, 2000000000)\n{body};\n"
                res[f"{label}, {clients} clients, writes/s"] = pgbench(url, script, clients, args.seconds)
    finally:
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
