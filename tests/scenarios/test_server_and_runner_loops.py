"""Two event loops writing at once in one real server (uvicorn and Daphne): the embedded event runner's (in a
thread of its own) streams an LLM reply into the openai stream, token by token, while API steps on the server's
loop store chat messages. Each loop has its own write queue, so every write of both is stored and answered, and
the server logs no error (a queue shared across loops resolved futures of the other loop)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.hostile_ws import HandshakeSocket
from tests.support.rawhttp import messages, send
from tests.support.server import LiveServer, base_env

pytestmark = pytest.mark.e2e

WORDS = 200
POSTERS, POSTS = 4, 25


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def server(request: Any, live_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # The fake LLM: a token every 5 ms, from the runner's loop. In asyncio's debug mode a future resolved from another
    # loop's thread raises (and is logged) instead of going unnoticed.
    env = base_env(live_db_url, FAKE_LLM_DELAY_MS="5", PYTHONASYNCIODEBUG="1")
    with LiveServer(env, log_dir=tmp_path_factory.mktemp("logs"), server=request.param) as live:
        yield live
    log = live.log()
    assert not [m for m in ("Exception in ASGI application", "Traceback", "Non-thread-safe") if m in log], log[-3000:]


def test_the_runners_writes_and_the_servers_writes_at_once_all_land(server):
    channel = f"loops-{uuid.uuid4().hex[:8]}"
    prompt = " ".join(f"w{i}" for i in range(WORDS))
    started = send(server.port, "POST", "/open-ai", {"message": prompt})
    assert started.status == 200, started
    trace_id = started.json()["__motia"]["groupId"]
    reply = HandshakeSocket(server.port)
    reply.join("openai", trace_id, "reply", id="message")

    def post(n: int) -> list[int]:
        return [send(server.port, "POST", "/chat-messages", {"channel_id": channel, "message": f"{n}-{i}"}).status
                for i in range(POSTS)]

    with ThreadPoolExecutor(POSTERS) as pool:  # while the runner streams the reply
        statuses = [status for batch in pool.map(post, range(POSTERS)) for status in batch]
    assert statuses == [201] * (POSTERS * POSTS)
    assert sorted(m["message"] for m in messages(server.port, channel)) == sorted(
        f"{n}-{i}" for n in range(POSTERS) for i in range(POSTS))
    final = f"echo: {prompt}"
    while True:  # the reply's frames, to its last state (a socket timeout fails the test)
        frame = reply.json()
        data = frame["event"].get("data")
        if isinstance(data, dict) and data.get("message") == final:
            break
    reply.close()
