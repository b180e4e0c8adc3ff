"""Slow and vanished clients on real servers (Daphne and uvicorn): a client that stops reading is cut off and,
when it reads again, finds close code 4013 after its backlog, never a bare reset; a socket that uvicorn closes
for a missed ping is not closed a second time (no "Exception in ASGI application")."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.support.rawws import RawSocket
from tests.support.realtime import write
from tests.support.server import LiveServer, base_env

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["daphne", "uvicorn"])
def server(request: Any, live_db_url: str, tmp_path: Any) -> Any:
    env = base_env(live_db_url, MOTIA_TEST_SEND_QUEUE_LIMIT="50")
    with LiveServer(env, log_dir=tmp_path, server=request.param) as live:
        yield live


def test_a_client_that_stops_reading_is_cut_off_with_4013(server):
    group = f"slow-{uuid.uuid4().hex[:6]}"
    client = RawSocket(server.port, rcvbuf=16384)
    client.send_json({"type": "join", "data": {"streamName": "chatMessage", "groupId": group,
                                               "subscriptionId": "s"}})
    opcode, payload = client.frame()
    assert opcode == 1 and b'"sync"' in payload
    write(server, "send_many", stream="chatMessage", channel={"groupId": group},
          event={"type": "tick", "data": {"pad": "x" * 2000}}, count=20_000)  # more than kernel buffers hold
    time.sleep(3)  # longer than Autobahn's one-second close handshake: a reset, without allow_slow_close
    assert client.close_code() == 4013  # after reading through what was already sent
    client.close()
    assert "Exception in ASGI application" not in server.log()


def test_uvicorns_ping_timeout_closes_once(live_db_url, tmp_path):
    class PingingUvicorn(LiveServer):
        def command(self) -> list[str]:
            return [*super().command()[:-1], "--ws-ping-interval", "0.3", "--ws-ping-timeout", "0.3", self.app]

    with PingingUvicorn(base_env(live_db_url), log_dir=tmp_path, server="uvicorn") as live:
        group = f"ping-{uuid.uuid4().hex[:6]}"
        client = RawSocket(live.port)  # never answers a ping
        client.send_json({"type": "join", "data": {"streamName": "chatMessage", "groupId": group,
                                                   "subscriptionId": "s"}})
        for _ in range(10):  # frames keep coming while uvicorn gives up on the client
            write(live, "send_many", stream="chatMessage", channel={"groupId": group},
                  event={"type": "tick", "data": {}}, count=20)
            time.sleep(0.2)
        client.close()
        time.sleep(0.5)
        assert "Exception in ASGI application" not in live.log(), live.log()[-3000:]
