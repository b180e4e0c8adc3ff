"""The load generator: one scenario per process, JSON result on stdout (``bench/run.py`` drives it).

    python bench/loadgen.py latency --http http://127.0.0.1:8001 --ws ws://127.0.0.1:8002 [--ops 500]

HTTP is a minimal HTTP/1.1 keep-alive client on asyncio streams (no parsing layers between us and the
socket); WebSockets use ``websockets`` without compression. Times are ``time.perf_counter()`` (CLOCK_MONOTONIC)
taken in this process: POST start, HTTP response complete, frame received. Every scenario also counts
protocol mistakes: missing frames, duplicates (a socket receiving the same create twice), wrong statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake

Json = dict[str, Any]


# --- helpers ------------------------------------------------------------------------------------------------

def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100) of ``values`` in milliseconds, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank] * 1000


def summary(values: list[float]) -> Json:
    return {"n": len(values), "p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
            "max": max(values) * 1000 if values else None}


def rss_kib(pids: list[int]) -> int:
    """Resident set size (KiB) of ``pids`` and all their descendants (Granian runs workers as children)."""
    seen: set[int] = set()
    todo = list(pids)
    total = 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (threads included)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Http:
    """One HTTP/1.1 keep-alive connection: ``await post(path, obj)`` -> (status, parsed JSON body or None)."""

    def __init__(self, base: str) -> None:
        url = urlparse(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, obj: Any) -> tuple[int, Any]:
        body = json.dumps(obj).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        for attempt in (0, 1):
            if self.writer is None:
                await self._open()
            try:
                return await self._exchange(head + body)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, request: bytes) -> tuple[int, Any]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            data = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data.decode(errors="replace")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Collector:
    """Arrival times of create frames by key (the message text), across any number of sockets."""

    def __init__(self, expected_per_key: int = 1) -> None:
        self.expected = expected_per_key
        self.times: dict[str, list[float]] = defaultdict(list)
        self.events: dict[str, asyncio.Event] = {}
        self.duplicates = 0
        self.unexpected = 0

    def expect(self, key: str) -> asyncio.Event:
        event = self.events[key] = asyncio.Event()
        if len(self.times.get(key, ())) >= self.expected:
            event.set()
        return event

    def record(self, key: str, t: float) -> None:
        times = self.times[key]
        times.append(t)
        if len(times) >= self.expected and key in self.events:
            self.events[key].set()


class Sub:
    """A subscriber socket: reads frames in a task; ``on_frame(frame, t)`` gets every non-sync frame."""

    def __init__(self, ws: ClientConnection, on_frame: Callable[[Json, float], None]) -> None:
        self.ws = ws
        self.on_frame = on_frame
        self.synced = asyncio.Event()
        self.sync: Json | None = None
        self.task = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, url: str, on_frame: Callable[[Json, float], None]) -> Sub:
        ws = await connect(url, compression=None, max_size=None, ping_interval=None, open_timeout=30,
                           close_timeout=1)
        return cls(ws, on_frame)

    async def join(self, stream: str, group: str, item: str | None = None, timeout: float = 30) -> Json:
        data = {"streamName": stream, "groupId": group, "subscriptionId": str(uuid.uuid4())}
        if item is not None:
            data["id"] = item
        self.synced.clear()
        await self.ws.send(json.dumps({"type": "join", "data": data}))
        await asyncio.wait_for(self.synced.wait(), timeout)
        assert self.sync is not None
        return self.sync

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                t = time.perf_counter()
                frame = json.loads(raw)
                event = frame.get("event") or {}
                if event.get("type") == "sync" and not self.synced.is_set():
                    self.sync = frame
                    self.synced.set()
                self.on_frame(frame, t)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)
        self.task.cancel()


async def open_many(url: str, n: int, make_on_frame: Callable[[int], Callable[[Json, float], None]],
                    join: Callable[[int], tuple[str, str, str | None]], concurrency: int = 50) -> list[Sub]:
    """Open ``n`` sockets (``concurrency`` handshakes at a time), each joined and synced."""
    subs: list[Sub | None] = [None] * n
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            sub = await Sub.open(url, make_on_frame(i))
            await sub.join(*join(i))
            subs[i] = sub

    await asyncio.gather(*(one(i) for i in range(n)))
    return [s for s in subs if s is not None]


def create_key(frame: Json) -> str | None:
    event = frame.get("event") or {}
    if event.get("type") != "create" or not isinstance(event.get("data"), dict):
        return None
    message = event["data"].get("message")
    return message if isinstance(message, str) else None


def per_socket_recorder(collector: Collector) -> Callable[[Json, float], None]:
    """A frame handler that records creates and counts a socket's repeated creates as duplicates."""
    seen: set[str] = set()

    def on_frame(frame: Json, t: float) -> None:
        key = create_key(frame)
        if key is None:
            return
        if key in seen:
            collector.duplicates += 1
            return
        seen.add(key)
        collector.record(key, t)

    return on_frame


def post_body(group: str, key: str) -> Json:
    return {"channel_id": group, "message": key}


# --- scenarios ----------------------------------------------------------------------------------------------

async def latency(args: argparse.Namespace) -> Json:
    """One group subscriber; ``warmup`` + ``ops`` sequential POSTs; POST start -> create frame / response."""
    group = f"lat-{uuid.uuid4().hex[:8]}"
    collector = Collector()
    sub = await Sub.open(args.ws, per_socket_recorder(collector))
    await sub.join("chatMessage", group)
    http = Http(args.http)
    ws_times: list[float] = []
    http_times: list[float] = []
    missing = bad_status = 0
    for i in range(args.warmup + args.ops):
        key = f"{group}-{i}"
        arrived = collector.expect(key)
        t0 = time.perf_counter()
        status, _ = await http.post("/chat-messages", post_body(group, key))
        t_http = time.perf_counter()
        if status != 201:
            bad_status += 1
        try:
            await asyncio.wait_for(arrived.wait(), args.timeout)
        except TimeoutError:
            if i >= args.warmup:
                missing += 1
            continue
        if i >= args.warmup:
            http_times.append(t_http - t0)
            ws_times.append(collector.times[key][0] - t0)
    await asyncio.sleep(0.2)
    http.close()
    await sub.close()
    tenth = max(1, len(ws_times) // 10)
    return {"ws": summary(ws_times), "http": summary(http_times),
            "first_tenth_p50": pct(ws_times[:tenth], 50), "last_tenth_p50": pct(ws_times[-tenth:], 50),
            "missing": missing, "duplicates": collector.duplicates, "bad_status": bad_status}


async def throughput(args: argparse.Namespace) -> Json:
    """``posters`` concurrent keep-alive posters for ``duration`` s on one group with one subscriber."""
    group = f"thr-{uuid.uuid4().hex[:8]}"
    collector = Collector()
    sub = await Sub.open(args.ws, per_socket_recorder(collector))
    await sub.join("chatMessage", group)
    posted: list[str] = []
    bad_status = 0
    bad_samples: list[str] = []
    deadline = time.perf_counter() + args.duration

    async def poster(p: int) -> None:
        nonlocal bad_status
        http = Http(args.http)
        n = 0
        while time.perf_counter() < deadline:
            key = f"{group}-{p}-{n}"
            n += 1
            status, body = await http.post("/chat-messages", post_body(group, key))
            if status == 201:
                posted.append(key)
            else:
                bad_status += 1
                if len(bad_samples) < 3:
                    bad_samples.append(f"{status} after {n} posts: {str(body)[:300]}")
        http.close()

    start = time.perf_counter()
    await asyncio.gather(*(poster(p) for p in range(args.posters)))
    elapsed = time.perf_counter() - start
    settle = time.perf_counter() + args.timeout * 2
    while len(collector.times) < len(posted) and time.perf_counter() < settle:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    await sub.close()
    received = set(collector.times)
    return {"posts": len(posted), "posts_per_s": len(posted) / elapsed, "elapsed": elapsed,
            "creates": len(received), "missing": len(set(posted) - received),
            "unexpected": len(received - set(posted)), "duplicates": collector.duplicates,
            "bad_status": bad_status, "bad_samples": bad_samples}


async def fanout(args: argparse.Namespace) -> Json:
    """``subscribers`` sockets on one group; ``ops`` sequential POSTs; POST start -> last subscriber's frame."""
    group = f"fan-{uuid.uuid4().hex[:8]}"
    n = args.subscribers
    collector = Collector(expected_per_key=n)
    t_open = time.perf_counter()
    subs = await open_many(args.ws, n, lambda i: per_socket_recorder(collector), lambda i: ("chatMessage", group, None))
    open_s = time.perf_counter() - t_open
    http = Http(args.http)
    last: list[float] = []
    first: list[float] = []
    missing = bad_status = 0
    pids = [int(p) for p in args.pids.split(",") if p]
    busy_from = cpu_seconds(pids)
    for i in range(args.warmup + args.ops):
        key = f"{group}-{i}"
        arrived = collector.expect(key)
        t0 = time.perf_counter()
        status, _ = await http.post("/chat-messages", post_body(group, key))
        bad_status += status != 201
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), args.timeout)
        times = collector.times.get(key, [])
        if i < args.warmup:
            continue
        missing += n - len(times)
        if len(times) == n:
            last.append(max(times) - t0)
            first.append(min(times) - t0)
    busy = cpu_seconds(pids) - busy_from if pids else None
    await asyncio.sleep(0.5)
    http.close()
    await asyncio.gather(*(s.close() for s in subs))
    return {"subscribers": n, "connected": len(subs), "open_s": open_s, "last": summary(last),
            "first": summary(first), "missing": missing, "duplicates": collector.duplicates,
            "bad_status": bad_status, "busy_cpu_s": busy}


async def tokens(args: argparse.Namespace) -> Json:
    """``POST /open-ai`` with a 200-word message; an item subscriber on openai/<groupId>/message.

    The subscriber joins before the POST on a group id we choose (sent as ``groupId``); if the server answers
    with another ``__motia.groupId`` it joins that one right after the response (a late join sees the final
    text in its ``sync``). Time is POST start -> the first frame whose item text is ``echo: <message>``.
    """
    runs: list[Json] = []
    for r in range(args.ops):
        words = [f"w{r}x{i}" for i in range(args.words)]
        message = " ".join(words)
        final = f"echo: {message}"
        state: Json = {"updates": 0, "creates": 0, "final_at": None, "final_via": None}
        done = asyncio.Event()

        def on_frame(frame: Json, t: float, state: Json = state, final: str = final,
                     done: asyncio.Event = done) -> None:
            event = frame.get("event") or {}
            kind = event.get("type")
            if kind == "update":
                state["updates"] += 1
            elif kind == "create":
                state["creates"] += 1
            data = event.get("data")
            if isinstance(data, dict) and data.get("message") == final and state["final_at"] is None:
                state["final_at"], state["final_via"] = t, kind
                done.set()

        group = uuid.uuid4().hex
        sub = await Sub.open(args.ws, on_frame)
        await sub.join("openai", group, "message")
        http = Http(args.http)
        t0 = time.perf_counter()
        status, body = await http.post("/open-ai", {"message": message, "groupId": group})
        t_http = time.perf_counter()
        ref = (body or {}).get("__motia") if isinstance(body, dict) else None
        served_group = ref.get("groupId") if isinstance(ref, dict) else None
        late_join = bool(served_group and served_group != group)
        if late_join:
            sub2 = await Sub.open(args.ws, on_frame)
            await sub2.join("openai", str(served_group), "message")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), args.timeout * 6)
        await asyncio.sleep(0.1)
        http.close()
        await sub.close()
        if late_join:
            await sub2.close()
        runs.append({"status": status, "http_ms": (t_http - t0) * 1000, "late_join": late_join,
                     "final_ms": None if state["final_at"] is None else (state["final_at"] - t0) * 1000,
                     "final_via": state["final_via"], "updates": state["updates"], "creates": state["creates"]})
    finals = [r["final_ms"] / 1000 for r in runs if r["final_ms"] is not None]
    return {"runs": runs, "final": summary(finals), "missing_final": sum(r["final_ms"] is None for r in runs),
            "updates_median": sorted(r["updates"] for r in runs)[len(runs) // 2],
            "late_join": any(r["late_join"] for r in runs), "bad_status": sum(r["status"] >= 300 for r in runs)}


async def memory(args: argparse.Namespace) -> Json:
    """Server RSS before and after opening ``subscribers`` idle sockets, each with one group subscription."""
    pids = [int(p) for p in args.pids.split(",")]
    run = uuid.uuid4().hex[:8]
    noop: Callable[[Json, float], None] = lambda frame, t: None  # noqa: E731
    warm = await open_many(args.ws, 20, lambda i: noop, lambda i: ("chatMessage", f"memw-{run}-{i}", None))
    await asyncio.sleep(1)
    before = rss_kib(pids)
    subs = await open_many(args.ws, args.subscribers, lambda i: noop,
                           lambda i: ("chatMessage", f"mem-{run}-{i}", None))
    await asyncio.sleep(2)
    after = rss_kib(pids)
    await asyncio.gather(*(s.close() for s in [*subs, *warm]))
    n = len(subs)
    return {"connections": n, "rss_before_kib": before, "rss_after_kib": after,
            "per_connection_kib": (after - before) / n if n else None}


async def sustained(args: argparse.Namespace) -> Json:
    """``subscribers`` sockets on one group, ``rate`` writes per second for ``duration`` s: the last receiver's
    delay per write, deliveries missing once things settle, and the servers' RSS: at the start, every tenth of
    the run and at the end, so that warm-up (caches filling) can be told from growth per write."""
    group = f"sus-{uuid.uuid4().hex[:8]}"
    n = args.subscribers
    pids = [int(p) for p in args.pids.split(",") if p]
    collector = Collector(expected_per_key=n)
    subs = await open_many(args.ws, n, lambda i: per_socket_recorder(collector), lambda i: ("chatMessage", group, None))
    await asyncio.sleep(1)
    rss_start = rss_kib(pids) if pids else None
    http = Http(args.http)
    posted: dict[str, float] = {}
    bad_status = 0
    start = time.perf_counter()
    total = int(args.duration * args.rate)
    every = max(1, total // 10)
    rss_samples: list[int] = []
    for i in range(total):
        await asyncio.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
        if pids and i % every == 0:
            rss_samples.append(rss_kib(pids))
        key = f"{group}-{i}"
        t0 = time.perf_counter()
        status, _ = await http.post("/chat-messages", post_body(group, key))
        bad_status += status != 201
        posted[key] = t0
    settle = time.perf_counter() + args.timeout
    while time.perf_counter() < settle and sum(len(collector.times.get(k, ())) for k in posted) < n * len(posted):
        await asyncio.sleep(0.1)
    rss_end = rss_kib(pids) if pids else None
    half = rss_samples[len(rss_samples) // 2] if rss_samples else None
    http.close()
    await asyncio.gather(*(s.close() for s in subs))
    last = [max(collector.times[k]) - t0 for k, t0 in posted.items() if len(collector.times.get(k, ())) == n]
    received = sum(len(collector.times.get(k, ())) for k in posted)
    return {"subscribers": n, "connected": len(subs), "writes": len(posted), "rate": args.rate,
            "duration": args.duration, "last": summary(last), "deliveries": received,
            "missing": n * len(posted) - received, "duplicates": collector.duplicates, "bad_status": bad_status,
            "rss_start_kib": rss_start, "rss_end_kib": rss_end,
            "rss_growth_kib": None if rss_start is None or rss_end is None else rss_end - rss_start,
            "rss_samples_kib": rss_samples,
            "rss_growth_second_half_kib": None if half is None or rss_end is None else rss_end - half}


async def connect_all(args: argparse.Namespace) -> Json:
    """``subscribers`` sockets connect, join one ``chatMessage`` group (the example's presence stream tracks it)
    and receive their sync, ``concurrency`` handshakes at a time: the time until every one is synced."""
    group = f"con-{uuid.uuid4().hex[:8]}"
    noop: Callable[[Json, float], None] = lambda frame, t: None  # noqa: E731
    start = time.perf_counter()
    subs = await open_many(args.ws, args.subscribers, lambda i: noop, lambda i: ("chatMessage", group, None),
                           concurrency=args.concurrency)
    took = time.perf_counter() - start
    synced = sum(1 for s in subs if s.sync is not None)
    await asyncio.gather(*(s.close() for s in subs))
    return {"subscribers": args.subscribers, "synced": synced, "missing": args.subscribers - synced,
            "all_synced_ms": took * 1000, "per_join_ms": took * 1000 / max(1, args.subscribers)}


class Resyncing:
    """A socket that behaves as Motia's client (``@motiadev/stream-client``) does on a lost connection: wait 2 s
    (``backoff``), connect again (again 2 s after a refused attempt), re-join with the same ``subscriptionId``.
    It holds its group's items (sync, then create/update/delete) and is ``done`` once, after a reconnect, it
    holds every message ``expected`` names."""

    def __init__(self, url: str, group: str, backoff: float, expected: set[str], storm: StormState) -> None:
        self.url, self.group, self.backoff, self.expected, self.storm = url, group, backoff, expected, storm
        self.join = json.dumps({"type": "join", "data": {"streamName": "chatMessage", "groupId": group,
                                                         "subscriptionId": str(uuid.uuid4())}})
        self.items: dict[str, str] = {}
        self.created: set[str] = set()
        self.connects = self.refused = self.duplicates = 0
        self.synced = asyncio.Event()
        self.resynced_at: float | None = None
        self.ws: ClientConnection | None = None

    async def run(self, gate: asyncio.Semaphore) -> None:
        await self._connect_once(gate)  # the first connection: a few at a time, as users arrive
        while not self.storm.over:
            await asyncio.sleep(self.backoff)
            if not self.storm.over:
                await self._connect_once(None)

    async def _connect_once(self, gate: asyncio.Semaphore | None) -> None:
        if gate is not None:
            await gate.acquire()
        try:
            ws = await connect(self.url, compression=None, max_size=None, ping_interval=None, open_timeout=30,
                               close_timeout=1)
        except (OSError, TimeoutError, InvalidHandshake):
            self.refused += 1
            if gate is not None:
                gate.release()
            return
        self.connects += 1
        self.ws = ws
        reader = asyncio.ensure_future(self._read(ws))
        if gate is not None:  # held until synced (or the socket is gone)
            await asyncio.wait([reader, asyncio.ensure_future(self.synced.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            gate.release()
        await reader
        self.ws = None

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.send(self.join)
            async for raw in ws:
                self._apply(json.loads(raw), time.perf_counter())

    def _apply(self, frame: Json, t: float) -> None:
        event = frame.get("event") or {}
        kind, data = event.get("type"), event.get("data")
        if kind == "sync" and isinstance(data, list):
            self.items = {i["id"]: i.get("message", "") for i in data if isinstance(i, dict) and "id" in i}
            self.created: set[str] = set()
            self.synced.set()
        elif kind in ("create", "update") and isinstance(data, dict) and "id" in data:
            if kind == "create":  # a create the sync already holds is allowed (docs/protocol.md, "Joining")
                self.duplicates += data["id"] in self.created
                self.created.add(data["id"])
            self.items[data["id"]] = data.get("message", "")
        elif kind == "delete" and isinstance(data, dict):
            self.items.pop(data.get("id"), None)
        if (self.storm.restarted and self.connects > 1 and self.resynced_at is None
                and self.expected <= set(self.items.values())):
            self.resynced_at = t
            self.storm.note_done()


class StormState:
    def __init__(self, n: int) -> None:
        self.n, self.done = n, 0
        self.restarted = self.over = False
        self.all_done = asyncio.Event()

    def note_done(self) -> None:
        self.done += 1
        if self.done >= self.n:
            self.all_done.set()


async def _read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def storm(args: argparse.Namespace) -> Json:
    """The reconnect storm. ``subscribers`` sockets on ``groups`` ``chatMessage`` groups of ``items`` messages
    each, all synced; then this prints ``READY`` and waits for ``UP <t_down> <t_up>`` on stdin: the driver
    (``bench/run.py``) has stopped the server with SIGTERM at ``t_down`` and it answered again at ``t_up``
    (``time.perf_counter()``, the same clock in every process). Every socket reconnects as Motia's client does;
    one more message per group is posted as soon as the server is up. Reported: the time from ``t_up`` (and
    from ``t_down``) until every socket holds its group's full state, sockets that never did, duplicates."""
    run = uuid.uuid4().hex[:6]
    groups = [f"storm-{run}-{g}" for g in range(args.groups)]
    expected: dict[str, set[str]] = {g: set() for g in groups}
    http = Http(args.http)
    for g in groups:
        for i in range(args.items):
            status, _ = await http.post("/chat-messages", post_body(g, f"{g}-{i}"))
            if status == 201:
                expected[g].add(f"{g}-{i}")
    http.close()
    state = StormState(args.subscribers)
    socks = [Resyncing(args.ws, groups[i % len(groups)], args.backoff, expected[groups[i % len(groups)]], state)
             for i in range(args.subscribers)]
    gate = asyncio.Semaphore(args.concurrency)
    tasks = [asyncio.ensure_future(s.run(gate)) for s in socks]
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(s.synced.wait() for s in socks)), args.timeout * 30)
    except TimeoutError:
        unsynced = [s for s in socks if not s.synced.is_set()]
        refused, connects = sum(s.refused for s in unsynced), sum(s.connects for s in unsynced)
        raise SystemExit(f"{len(unsynced)} of {len(socks)} sockets never synced (refused {refused}, "
                         f"connected {connects})") from None
    first_sync_ms = (time.perf_counter() - t0) * 1000
    for g in groups:  # written right after the restart: each socket must hold it too, in its sync or live
        expected[g].add(f"{g}-after")
    state.restarted = True
    print("READY", flush=True)
    line = (await _read_line()).split()
    t_down, t_up = float(line[1]), float(line[2])
    http = Http(args.http)
    bad_status = 0
    for g in groups:
        status, _ = await http.post("/chat-messages", post_body(g, f"{g}-after"))
        bad_status += status != 201
    http.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.all_done.wait(), args.timeout * 6)
    state.over = True
    done = [s.resynced_at for s in socks if s.resynced_at is not None]
    await asyncio.gather(*(s.ws.close() for s in socks if s.ws is not None), return_exceptions=True)
    for task in tasks:
        task.cancel()
    last = max(done) if done else None
    return {"subscribers": args.subscribers, "groups": args.groups, "items": args.items,
            "first_sync_ms": first_sync_ms, "restart_ms": (t_up - t_down) * 1000,
            "resynced": len(done), "missing": args.subscribers - len(done),
            "resynced_after_up_ms": None if last is None else (last - t_up) * 1000,
            "resynced_after_down_ms": None if last is None else (last - t_down) * 1000,
            "p50_after_up_ms": pct([d - t_up for d in done], 50), "refused": sum(s.refused for s in socks),
            "connects": sum(s.connects for s in socks), "duplicates": sum(s.duplicates for s in socks),
            "bad_status": bad_status}


async def mix(args: argparse.Namespace) -> Json:
    """The scaling check's traffic (``bench/scale.py``): ``subscribers`` sockets spread over every ``--ws`` URL in
    turn, in rooms of ``room`` (a room's members on different processes, as a load balancer spreads users); first
    ``idle`` seconds without writes, then ``rate`` writes per second for ``duration`` s, each to a random room
    through the ``--http`` URLs in turn. The servers' CPU (``--pids``) in each phase, the last receiver's delay per
    write, missing and duplicate deliveries."""
    import random

    ws_urls, http_urls = args.ws.split(","), args.http.split(",")
    pids = [int(p) for p in args.pids.split(",") if p]
    run, n, room = uuid.uuid4().hex[:6], args.subscribers, args.room
    rooms = [f"mix-{run}-{k}" for k in range(max(1, n // room))]
    collector = Collector(expected_per_key=room)
    per_url = [[i for i in range(n) if i % len(ws_urls) == u] for u in range(len(ws_urls))]
    opened = await asyncio.gather(*(open_many(url, len(ids), lambda i: per_socket_recorder(collector),
                                              lambda i, ids=ids: ("chatMessage", rooms[(ids[i] // room) % len(rooms)],
                                                                  None), concurrency=max(1, 50 // len(ws_urls)))
                                    for url, ids in zip(ws_urls, per_url, strict=True)))
    subs = [s for group in opened for s in group]
    await asyncio.sleep(2)
    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    await asyncio.sleep(args.idle)
    idle_cpu, idle_s = cpu_seconds(pids) - cpu0, time.perf_counter() - t0
    pool: asyncio.Queue[Http] = asyncio.Queue()
    for k in range(8 * len(http_urls)):
        pool.put_nowait(Http(http_urls[k % len(http_urls)]))
    posted: dict[str, float] = {}
    bad_status = 0

    async def write(key: str, group: str) -> None:
        nonlocal bad_status
        http = await pool.get()
        try:
            posted[key] = time.perf_counter()
            status, _ = await http.post("/chat-messages", post_body(group, key))
            bad_status += status != 201
        finally:
            pool.put_nowait(http)

    total = int(args.duration * args.rate)
    cpu1, start = cpu_seconds(pids), time.perf_counter()
    tasks = []
    for i in range(total):
        await asyncio.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
        tasks.append(asyncio.ensure_future(write(f"mix-{run}-w{i}", random.choice(rooms))))
    await asyncio.gather(*tasks)
    busy_s = time.perf_counter() - start
    settle = time.perf_counter() + args.timeout
    while time.perf_counter() < settle and sum(len(collector.times.get(k, ())) for k in posted) < room * len(posted):
        await asyncio.sleep(0.1)
    busy_cpu = cpu_seconds(pids) - cpu1
    rss = rss_kib(pids)
    while not pool.empty():
        pool.get_nowait().close()
    await asyncio.gather(*(s.close() for s in subs))
    last = [max(collector.times[k]) - t for k, t in posted.items() if len(collector.times.get(k, ())) == room]
    received = sum(len(collector.times.get(k, ())) for k in posted)
    return {"subscribers": n, "connected": len(subs), "room": room, "rooms": len(rooms), "processes": len(ws_urls),
            "rate": args.rate, "writes": len(posted), "idle_cpu_per_s": idle_cpu / idle_s,
            "write_cpu_per_s": busy_cpu / max(busy_s, 1e-3), "write_phase_s": busy_s, "rss_kib": rss,
            "last": summary(last),
            "deliveries": received, "missing": room * len(posted) - received, "duplicates": collector.duplicates,
            "bad_status": bad_status}


SCENARIOS = {"connect": connect_all, "latency": latency, "throughput": throughput, "fanout": fanout, "tokens": tokens,
             "memory": memory, "sustained": sustained, "storm": storm, "mix": mix}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--http", required=True, help="base URL of the writers' server (mix: comma-separated)")
    parser.add_argument("--ws", required=True, help="WebSocket URL of the subscribers' server (mix: comma-separated)")
    parser.add_argument("--ops", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--posters", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second (sustained)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for one expected frame")
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes at a time (connect)")
    parser.add_argument("--groups", type=int, default=50, help="groups (storm)")
    parser.add_argument("--items", type=int, default=20, help="messages per group (storm)")
    parser.add_argument("--room", type=int, default=20, help="sockets per room (mix)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds without writes first (mix)")
    parser.add_argument("--backoff", type=float, default=2.0, help="seconds before a reconnect (storm; Motia's)")
    parser.add_argument("--pids", default="", help="server pids whose RSS the memory scenario reads")
    args = parser.parse_args(argv)
    raise_nofile()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(SCENARIOS[args.scenario](args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
