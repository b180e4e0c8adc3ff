"""Forked workers, as gunicorn ``--preload`` with uvicorn workers makes them (tests/support/preforked.py): the
parent imports the application and names its process, then forks two servers sharing Redis. Each child has a
process origin of its own, so neither drops the other's changes as its own: a write in either server reaches
the clients of both, once."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.realtime import chat, write
from tests.support.server import ROOT, base_env, free_port, stop_process, wait_for_port

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def join(ws: ClientConnection, group: str) -> dict[str, Any]:
    ws.send(json.dumps({"type": "join", "data": {"streamName": "chatMessage", "groupId": group,
                                                 "subscriptionId": "s"}}))
    return recv(ws)


def recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=15))
    return frame


@pytest.fixture
def preforked(live_db_url: str, redis_url: str, tmp_path: Any) -> Any:
    ports = [free_port(), free_port()]
    log_path = tmp_path / "preforked.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.preforked", *map(str, ports)],
                                env=base_env(live_db_url, REDIS_URL=redis_url), cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            for port in ports:
                wait_for_port(port, timeout=30, proc=proc)
            yield ports, log_path
        finally:
            stop_process(proc)
    text = log_path.read_text(errors="replace")
    assert "Exception in ASGI application" not in text, text[-3000:]


def wait_for_origins(log_path: Any, count: int, timeout: float = 15) -> dict[str, str]:
    """The ``origin`` lines, once ``count`` processes printed theirs (a child may still be writing when the
    ports answer, on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(errors="replace")
        origins = dict(re.findall(r"^origin \w+ (\d+) (\S+)$", text, flags=re.M))
        if len(origins) >= count or time.monotonic() > deadline:
            assert len(origins) == count, text[-3000:]
            return origins
        time.sleep(0.1)


def test_forked_workers_have_origins_of_their_own_and_deliver_each_others_changes(preforked):
    ports, log_path = preforked
    origins = wait_for_origins(log_path, 3)
    assert len(set(origins.values())) == 3, log_path.read_text()  # the parent and each worker
    assert all(origin.startswith(f"{pid}-") for pid, origin in origins.items())

    group = f"fork-{uuid.uuid4().hex[:8]}"
    servers = [SimpleNamespace(url=f"http://127.0.0.1:{port}") for port in ports]
    with connect(f"ws://127.0.0.1:{ports[0]}", open_timeout=10) as a, \
            connect(f"ws://127.0.0.1:{ports[1]}", open_timeout=10) as b:
        for ws in (a, b):
            assert join(ws, group)["event"] == {"type": "sync", "data": []}
        for server, id in ((servers[0], "m1"), (servers[1], "m2")):  # each change once, on both servers
            write(server, "set", stream="chatMessage", group=group, id=id, data=chat(id))
            for ws in (a, b):
                assert recv(ws)["event"] == {"type": "create", "data": chat(id)}
        write(servers[1], "delete", stream="chatMessage", group=group, id="m1")
        for ws in (a, b):
            assert recv(ws)["event"] == {"type": "delete", "data": chat("m1")}
        for ws in (a, b):  # and nothing twice: the next frame is the answer to a later join
            ws.send(json.dumps({"type": "join", "data": {"streamName": "chatMessage", "groupId": f"{group}-end",
                                                         "subscriptionId": "end"}}))
            assert recv(ws)["groupId"] == f"{group}-end"
