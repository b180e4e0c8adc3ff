"""The embedded server stopped (SIGTERM) and started again in the middle of 200 writes, with Motia's real
client connected: the client reconnects on its own, and its view holds every committed write, no reload."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from tests.support.realtime import NodeClient
from tests.support.server import LiveServer, base_env

pytestmark = pytest.mark.e2e


def post(url: str, body: dict[str, Any]) -> dict[str, Any] | None:
    request = urllib.request.Request(f"{url}/chat-messages", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read())) if response.status == 201 else None
    except (OSError, urllib.error.URLError):
        return None  # the server is down: not committed (or not known to be)


def test_a_restart_in_the_middle_of_200_writes_loses_nothing(live_db_url, tmp_path):
    group = f"restart-{uuid.uuid4().hex[:6]}"
    with LiveServer(base_env(live_db_url), log_dir=tmp_path) as server, NodeClient(server.ws_url) as client:
        client.group("g", "chatMessage", group)
        client.wait_state("g", [])
        committed: list[str] = []

        def writes() -> None:
            for n in range(200):
                for _attempt in range(100):  # while the server restarts, try again as a client would
                    item = post(server.url, {"channel_id": group, "message": f"w{n}"})
                    if item is not None:
                        committed.append(item["id"])
                        break
                    time.sleep(0.1)
                time.sleep(0.01)

        writer = threading.Thread(target=writes)
        writer.start()
        while len(committed) < 60:
            time.sleep(0.01)
        server.restart()  # SIGTERM, then the same port again
        writer.join(120)
        assert len(committed) == 200
        with urllib.request.urlopen(f"{server.url}/chat-messages/{group}", timeout=10) as response:
            stored = {item["id"] for item in json.loads(response.read())}
        assert set(committed) <= stored
        client.wait_for(lambda e: e["kind"] == "state" and e.get("name") == "g"
                        and {item["id"] for item in e["state"]} == stored, timeout=15)
