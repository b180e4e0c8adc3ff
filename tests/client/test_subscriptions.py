"""motia_django.client.subscriptions: feeds apply frames as Motia's JS client does (checked against its code
and, with Node, the real @motiadev/stream-client-browser), and ready/next/wait_for/max_pending."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motia_django.client import StreamClient
from motia_django.client import connection as client_module
from motia_django.exceptions import StreamTimeout
from tests.client.helpers import FakeServer, _take, fast, frame, until
from tests.support.realtime import JS_DIR, ensure_stream_client


async def test_ready_times_out_with_a_clear_error(fake):
    async with fast() as client:
        with pytest.raises(StreamTimeout, match=r"no sync for chat/room within 0.05s"):
            await client.group("chat", "room").ready(0.05)


async def test_wait_for_and_a_slow_consumer(fake):
    async with fast(max_pending=3) as client:
        group = client.group("chat", "room")
        await until(lambda: fake.socket.messages("join"))
        fake.socket.feed(frame("sync", [], ts=1))
        for n in range(10):
            fake.socket.feed(frame("create", {"id": f"m{n}"}, ts=2 + n, id=f"m{n}"))
        state = await group.wait_for(lambda s: len(s) == 10, timeout=2)
        assert [i["id"] for i in state] == [f"m{n}" for n in range(10)]
        with pytest.raises(StreamTimeout, match="did not match"):
            await group.wait_for(lambda s: len(s) == 11, timeout=0.05)
        # the consumer never read: its backlog became one sync of the then current state, then what followed
        changes = [c async for c in _take(group, 10)]
        assert 1 <= len(changes) < 3
        assert changes[0].type == "sync" and changes[0].resync
        assert changes[-1].state == state


# --- the state machine against Motia's client ------------------------------------------------------------------


SUBS = [("g", "s", "g", None), ("ia", "s", "g", "a"), ("ib", "s", "g", "b"), ("h", "s", "h", None)]


ITEM_OF = {name: id for name, _, _, id in SUBS}


EVENT_TYPES = ["typing", "ping"]


ids = st.sampled_from(["a", "b", "c"])


stamps = st.integers(min_value=0, max_value=12)


groups = st.sampled_from(["g", "g", "g", "h"])


items = st.builds(lambda id, v: {"id": id, "v": v}, ids, st.integers(0, 3))


def _frame(group: str, ts: int, event: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    return {"timestamp": ts, "streamName": "s", "groupId": group, **({"id": id} if id else {}), "event": event}


frames = st.lists(st.one_of(
    st.builds(lambda g, ts, data: _frame(g, ts, {"type": "sync", "data": data}), groups, stamps,
              st.lists(items, max_size=3, unique_by=lambda i: i["id"])),
    st.builds(lambda g, ts, id, v: _frame(g, ts, {"type": "sync", "data": {"id": id, "v": v} if v else None}, id),
              groups, stamps, ids, st.integers(0, 2)),
    st.builds(lambda g, ts, kind, item: _frame(g, ts, {"type": kind, "data": item}, item["id"]),
              groups, stamps, st.sampled_from(["create", "create", "update", "update", "delete"]), items),
    st.builds(lambda g, ts, id, type, data: _frame(g, ts, {"type": "event", "event": {"type": type, "data": data}},
                                                   id), groups, stamps, st.none() | ids, st.sampled_from(EVENT_TYPES),
              st.integers(0, 9)),
), max_size=30)


def reference(frames: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """Motia's ``@motiadev/stream-client`` (dist/index.js), transliterated: ``Stream.messageListener``'s routing
    and the listeners of ``StreamGroupSubscription`` and ``StreamItemSubscription``."""
    state: dict[str, Any] = {name: [] if id is None else None for name, _, _, id in SUBS}
    last = dict.fromkeys(state, 0)
    per_item: dict[str, dict[str, int]] = {name: {} for name in state}
    events: dict[str, list[Any]] = {name: [] for name in state}

    def group_listener(name: str, m: dict[str, Any]) -> None:
        kind, data = m["event"]["type"], m["event"].get("data")
        if kind == "sync":
            if m["timestamp"] < last[name]:
                return
            per_item[name], last[name], state[name] = {}, m["timestamp"], data
        elif kind == "create":
            if not any(i["id"] == data["id"] for i in state[name]):
                state[name] = [*state[name], data]
        elif kind == "update":
            current = per_item[name].get(data["id"])
            if current and current >= m["timestamp"]:
                return
            last[name] = per_item[name][data["id"]] = m["timestamp"]
            state[name] = [data if i["id"] == data["id"] else i for i in state[name]]
        elif kind == "delete":
            last[name] = per_item[name][data["id"]] = m["timestamp"]
            state[name] = [i for i in state[name] if i["id"] != data["id"]]
        elif kind == "event":
            events[name].append([m["event"]["event"]["type"], m["event"]["event"]["data"]])

    def item_listener(name: str, m: dict[str, Any]) -> None:
        if m["timestamp"] <= last[name]:
            return
        last[name] = m["timestamp"]
        kind = m["event"]["type"]
        if kind in ("sync", "create", "update"):
            state[name] = m["event"]["data"]
        elif kind == "delete":
            state[name] = None
        elif kind == "event":
            events[name].append([m["event"]["event"]["type"], m["event"]["event"]["data"]])

    def room(m: dict[str, Any]) -> list[str]:
        return [name for name, stream, group, id in SUBS
                if (stream, group, id) == (m["streamName"], m["groupId"], m.get("id"))]

    states = []
    for m in frames:
        for name in room(m):
            (item_listener if ITEM_OF[name] else group_listener)(name, m)
        if m.get("id") and m["event"]["type"] != "sync":
            for name in room({**m, "id": None}):
                group_listener(name, m)
        states.append(dict(state))
    return states, events


def python_client(frames: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """The same frames through ``StreamClient`` (its dispatch, as the socket hands them over)."""

    async def run() -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        server = FakeServer()
        with mock.patch.object(client_module, "ws_connect", server.connect):
            async with StreamClient("ws://fake.test") as client:
                subs = {name: client.item(s, g, id) if id else client.group(s, g) for name, s, g, id in SUBS}
                states = []
                for m in frames:
                    client._dispatch(json.dumps(m))
                    states.append({name: sub.state for name, sub in subs.items()})
                events = {name: [[c.event.type, c.event.data] for c in sub.feed.queue if c.event is not None]
                          for name, sub in subs.items()}
                for sub in subs.values():  # every change carries the state it left behind
                    if sub.feed.queue:
                        assert sub.feed.queue[-1].state == sub.state
                return states, events

    return asyncio.run(run())


@settings(max_examples=300, deadline=None, database=None)
@given(frames)
def test_the_state_machine_matches_motias_client_code(frames):
    assert python_client(frames) == reference(frames)


@pytest.fixture(scope="module")
def motia_replay() -> Any:
    """Motia's real browser client in Node, fed frames by tests/js/replay.mjs."""
    ensure_stream_client()
    proc = subprocess.Popen(["node", str(JS_DIR / "replay.mjs")], cwd=JS_DIR, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)

    def replay(frames: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        assert proc.stdin is not None and proc.stdout is not None
        subs = [{"name": n, "stream": s, "group": g, "id": i} for n, s, g, i in SUBS]
        proc.stdin.write(json.dumps({"subs": subs, "events": EVENT_TYPES, "frames": frames}) + "\n")
        answer = json.loads(proc.stdout.readline())
        return answer["states"], answer["events"]

    yield replay
    proc.stdin.close()  # type: ignore[union-attr]
    proc.wait(timeout=10)


@settings(max_examples=200, deadline=None, database=None)
@given(frames=frames)
def test_the_state_machine_matches_motias_real_client(motia_replay, frames):
    """Differential: the same random frames through the real @motiadev/stream-client-browser and ours."""
    assert python_client(frames) == motia_replay(frames)
