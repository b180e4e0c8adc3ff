"""The relay across a Redis restart, with real processes: two Daphne servers on a Redis of the test's own and
PostgreSQL, Motia's real client on each, writes before, during and after the outage. Every client holds every
committed change within 5 s after Redis is back, with no reload (docs/protocol.md, "Delivery")."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.support.realtime import NodeClient, chat, write
from tests.support.redis import own_redis
from tests.support.server import LiveServer, base_env, live_database

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def _ids(state: Any) -> list[str]:
    return sorted(item["id"] for item in state or [])


def wait_ids(client: NodeClient, name: str, ids: list[str], timeout: float) -> None:
    client.wait_for(lambda e: e["kind"] == "state" and e.get("name") == name and _ids(e["state"]) == ids,
                    timeout=timeout)


def test_every_client_converges_after_a_redis_restart(postgres_url, tmp_path):
    """Group ``g`` gets writes before, during and after the outage (the later ones reveal a gap in its sequence);
    group ``quiet`` only during it (nothing reveals the loss but the relay's heartbeat)."""
    group, quiet = f"outage-{uuid.uuid4().hex[:8]}", f"quiet-{uuid.uuid4().hex[:8]}"
    with own_redis(tmp_path) as redis, live_database(tmp_path, postgres_url) as db_url:
        env = base_env(db_url, REDIS_URL=redis.url)
        with LiveServer(env, log_dir=tmp_path) as one, LiveServer(env, log_dir=tmp_path) as two, \
                NodeClient(one.ws_url) as a, NodeClient(two.ws_url) as b:
            for client in (a, b):
                client.group("g", "chatMessage", group)
                client.group("quiet", "chatMessage", quiet)
                client.wait_state("g", [])
                client.wait_state("quiet", [])
            written: list[str] = []

            def post(server: LiveServer, n: int) -> None:
                write(server, "set", stream="chatMessage", group=group, id=f"m{n}", data=chat(f"m{n}", str(n)))
                written.append(f"m{n}")

            post(one, 0)
            post(two, 1)
            for client in (a, b):
                wait_ids(client, "g", sorted(written), timeout=10)

            redis.stop()
            post(one, 2)  # stored, and seen by the clients of the server that wrote it ...
            post(two, 3)
            write(one, "set", stream="chatMessage", group=quiet, id="q1", data=chat("q1"))
            write(two, "set", stream="chatMessage", group=quiet, id="q2", data=chat("q2"))
            time.sleep(1.5)  # ... the other server's clients cannot hear of it yet
            redis.start()
            back = time.monotonic()
            post(one, 4)
            post(two, 5)
            for client in (a, b):
                wait_ids(client, "g", sorted(written), timeout=max(0.5, 5 - (time.monotonic() - back)))
                wait_ids(client, "quiet", ["q1", "q2"], timeout=max(0.5, 5 - (time.monotonic() - back)))
            assert "Exception in ASGI application" not in one.log() + two.log()
