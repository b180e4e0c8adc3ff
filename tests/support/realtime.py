"""Helpers for the real-time tests: a raw-frame client (``motia_django.testing.StreamCommunicator``), and
Motia's real browser client run by Node (``NodeClient``)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asgiref.sync import SyncToAsync
from channels.layers import channel_layers
from django.db import connections

from motia_django.stream.registry import streams
from motia_django.testing import StreamCommunicator
from tests.support.services import skip_or_fail

TIMEOUT = 5


def chat(id: str, message: str = "hi", user: str = "u1") -> dict[str, str]:
    return {"id": id, "user_id": user, "message": message, "timestamp": "2025-01-01T00:00:00Z"}


def write(server: Any, op: str, **body: Any) -> Any:
    """Run one write inside a live server's process (tests/live_urls.py)."""
    request = urllib.request.Request(f"{server.url}/test/realtime/{op}/", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())["result"]


def reset_layers() -> None:
    """Fresh channel layers and an empty hub (the in-memory layer and the hub outlive a test otherwise)."""
    from motia_django.realtime.hub import hub

    channel_layers.backends.clear()
    hub.sockets.clear()


def close_thread_connections() -> None:
    """Close the database connections of asgiref's sync thread, where async tests' ORM calls ran (else
    PostgreSQL cannot drop the test database at the end)."""
    executor = getattr(SyncToAsync, "single_thread_executor", None)
    if executor is not None:
        executor.submit(connections.close_all).result(timeout=10)


class Client(StreamCommunicator):
    """One socket for the realtime tests: ``motia_django.testing.StreamCommunicator`` with short names
    (``next``, ``close``), ``connect()`` returning the client, and ``fence``."""

    def __init__(self, path: str = "/", subprotocols: list[str] | None = None,
                 headers: list[tuple[bytes, bytes]] | None = None, application: Any = None) -> None:
        super().__init__(application, path, headers=headers, subprotocols=subprotocols)
        self.connected: bool = False
        self.detail: Any = None

    @property
    def comm(self) -> Client:
        return self

    async def connect(self, timeout: float = TIMEOUT) -> Client:  # type: ignore[override]
        self.connected, self.detail = await super().connect(timeout=timeout)
        return self

    async def join(self, stream: str, group: str, id: str | None = None, sub: str | None = None) -> str:  # type: ignore[override]
        return await super().join(stream, group, id, subscription_id=sub)

    async def next(self) -> dict[str, Any]:
        return await self.receive_frame(TIMEOUT)

    async def handled(self) -> None:
        """Wait until the server has handled every frame sent so far (they are handled in order): a join of an
        unknown stream must be answered next."""
        token = uuid.uuid4().hex
        await self.send_json_to({"type": "join", "data": {"streamName": "fence", "groupId": token,
                                                          "subscriptionId": token}})
        frame = await self.next()
        assert frame["event"]["event"]["data"]["code"] == "STREAM_NOT_FOUND" and frame["groupId"] == token, frame

    async def fence(self, stream: str, group: str, id: str | None = None) -> None:
        """Prove that every frame sent so far was handled and nothing else arrived (``handled``), then that a
        ``fence`` event sent now is the very next frame."""
        await self.handled()
        token = uuid.uuid4().hex
        channel = {"groupId": group, **({"id": id} if id else {})}
        await streams[stream].asend(channel, {"type": "fence", "data": {"token": token}})
        assert await self.expect_event("fence") == {"type": "fence", "data": {"token": token}}

    async def close(self) -> None:
        await self.disconnect()


def error_code(frame: dict[str, Any]) -> str:
    event = frame["event"]
    assert event["type"] == "event" and event["event"]["type"] == "error", frame
    return str(event["event"]["data"]["code"])


# --- Motia's real client, driven through tests/js/client.mjs -------------------------------------------------

JS_DIR = Path(__file__).resolve().parents[1] / "js"
_npm_ready = False


def ensure_stream_client() -> None:
    """Install tests/js (pinned @motiadev/stream-client-browser and ws) with npm once; skip or fail without
    node/npm (tests.support.services policy)."""
    global _npm_ready
    if _npm_ready:
        return
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        skip_or_fail("node and npm are needed to run Motia's stream client")
    if not (JS_DIR / "node_modules" / "@motiadev" / "stream-client-browser").is_dir():
        command = [str(npm), "ci" if (JS_DIR / "package-lock.json").exists() else "install", "--no-audit",
                   "--no-fund"]
        result = subprocess.run(command, cwd=JS_DIR, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            skip_or_fail(f"npm could not install tests/js: {result.stderr[-2000:]}")
    _npm_ready = True


class NodeClient:
    """One ``Stream`` of Motia's browser client in a Node process; records what it observes."""

    def __init__(self, url: str, protocols: list[str] | None = None) -> None:
        ensure_stream_client()
        plan = {"url": url, **({"protocols": protocols} if protocols else {})}
        self.proc = subprocess.Popen(["node", str(JS_DIR / "client.mjs"), json.dumps(plan)], cwd=JS_DIR,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.wait_for(lambda e: e["kind"] == "ready")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.events.append(json.loads(line))
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def command(self, cmd: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()

    def group(self, name: str, stream: str, group: str, events: list[str] | None = None) -> None:
        self.command("group", name=name, stream=stream, group=group, events=events or [])

    def item(self, name: str, stream: str, group: str, id: str, events: list[str] | None = None) -> None:
        self.command("item", name=name, stream=stream, group=group, id=id, events=events or [])

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15,
                 since: int = 0) -> dict[str, Any]:
        """The first observed event (from index ``since``) matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"not observed in {timeout}s; saw {self.events}; stderr "
                                         f"{''.join(self.stderr)[-2000:]}")
                self._cond.wait(remaining)

    def state(self, name: str) -> Any:
        with self._cond:
            states = [e["state"] for e in self.events if e["kind"] == "state" and e.get("name") == name]
        return states[-1] if states else None

    def wait_state(self, name: str, expected: Any, timeout: float = 15) -> None:
        """Wait until the subscription's latest state equals ``expected``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.state_unlocked(name) != expected:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"{name}: state {self.state_unlocked(name)!r} != {expected!r}; "
                                         f"stderr {''.join(self.stderr)[-2000:]}")
                self._cond.wait(remaining)

    def state_unlocked(self, name: str) -> Any:
        states = [e["state"] for e in self.events if e["kind"] == "state" and e.get("name") == name]
        return states[-1] if states else None

    def count(self, predicate: Callable[[dict[str, Any]], bool]) -> int:
        with self._cond:
            return sum(1 for e in self.events if predicate(e))

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.command("exit")
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
