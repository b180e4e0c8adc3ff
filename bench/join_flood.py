"""What a join flood costs everyone else: POST latency on one group while 50 sockets join and leave other groups as
fast as they can, against the same POSTs with no flood, on a fresh server of the example project (the default
``JOIN_RATE`` and ``JOIN_BURST``). Each flooding socket reads what it is sent, so what it costs is its joins, not a
full send queue.

    .venv/bin/python bench/join_flood.py [--server uvicorn|daphne] [--sockets 50] [--posts 300]

Prints one JSON line: POST latency p50 and p99 (ms) without and with the flood, the joins sent, the frames the flooding
sockets read and how many of them refused a join with ``TOO_MANY_JOINS``, and the server's resident memory before
and at the end of the flood. The flood runs in a process of its own; on one machine it shares the cores with the
server, which is part of what it costs.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.hostile_ws import rss_bytes  # noqa: E402
from tests.support.server import LiveServer, base_env, live_database  # noqa: E402


def post_latencies(port: int, group: str, count: int) -> list[float]:
    """``count`` POSTs of a chat message, one after another on one keep-alive connection; each one's ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for i in range(count):
        body = json.dumps({"channel_id": group, "message": f"m{i}"})
        started = time.perf_counter()
        conn.request("POST", "/chat-messages", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status == 201, response.status
    conn.close()
    return times


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2)}


async def flood(url: str, stream: str, sockets: int, stop: Any, counts: dict[str, int]) -> None:
    async def one(n: int) -> None:
        try:
            ws = await connect(url, max_size=None, close_timeout=1)
        except Exception:  # over a connection cap: refused at the handshake
            counts["refused sockets"] = counts.get("refused sockets", 0) + 1
            return
        async with ws:
            async def read() -> None:
                try:
                    async for frame in ws:
                        counts["frames"] += 1
                        if '"TOO_MANY_JOINS"' in frame:
                            counts["refused"] += 1
                except ConnectionClosed as closed:
                    key = f"closed {closed.rcvd.code if closed.rcvd else None}"
                    counts[key] = counts.get(key, 0) + 1

            reader = asyncio.create_task(read())
            i = 0
            while not stop.is_set():
                data = {"streamName": stream, "groupId": f"flood-{n}-{i % 20}", "subscriptionId": f"s{i % 20}"}
                await ws.send(json.dumps({"type": "join", "data": data}))
                await ws.send(json.dumps({"type": "leave", "data": data}))
                counts["joins"] += 1
                i += 1
                await asyncio.sleep(0)  # the reader drains what the server sends
            reader.cancel()

    await asyncio.gather(*(one(n) for n in range(sockets)))


def flooder(url: str, stream: str, sockets: int, stop: Any, out: Any) -> None:
    """The flood, in a process of its own: it must not share the measuring process's interpreter lock."""
    counts = {"joins": 0, "refused": 0, "frames": 0}
    asyncio.run(flood(url, stream, sockets, stop, counts))
    out.put(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--stream", default="chatMessage", help="the stream the flood joins (chatMessage is tracked "
                                                                 "by a presence stream; bulk is not)")
    parser.add_argument("--join-rate", default="20", help="MOTIA['JOIN_RATE'] (joins a second per socket)")
    parser.add_argument("--join-burst", default="50", help="MOTIA['JOIN_BURST']")
    parser.add_argument("--max-per-ip", default="", help="MOTIA['MAX_CONNECTIONS_PER_IP'] (default: no cap)")
    parser.add_argument("--postgres", default=None, help="an admin URL: a fresh PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    env = {"DJANGO_SETTINGS_MODULE": "tests.support.hostile_clients_settings", "MOTIA_TEST_JOIN_RATE": args.join_rate,
           "MOTIA_TEST_JOIN_BURST": args.join_burst, "MOTIA_TEST_MAX_CONNECTIONS_PER_IP": args.max_per_ip}
    with tempfile.TemporaryDirectory() as tmp, live_database(Path(tmp), args.postgres) as db_url, \
            LiveServer(base_env(db_url, **env), log_dir=Path(tmp), server=args.server) as server:
        assert server.proc is not None
        group = f"quiet-{uuid.uuid4().hex[:6]}"
        post_latencies(server.port, group, 50)  # warm up
        quiet = post_latencies(server.port, group, args.posts)
        rss_before = rss_bytes(server.proc.pid)
        stop, out = multiprocessing.Event(), multiprocessing.Queue()
        flooding = multiprocessing.Process(target=flooder, args=(server.ws_url, args.stream, args.sockets, stop, out),
                                           daemon=True)
        flooding.start()
        time.sleep(2)  # the flood is on, past each socket's burst
        busy = post_latencies(server.port, group, args.posts)
        rss_flood = rss_bytes(server.proc.pid)
        stop.set()
        counts = out.get(timeout=60)
        flooding.join(30)
        print(json.dumps({"server": args.server, "database": "postgresql" if args.postgres else "sqlite",
                          "stream": args.stream, "join_rate": args.join_rate, "join_burst": args.join_burst,
                          "max_per_ip": args.max_per_ip or None, "sockets": args.sockets, "posts": args.posts,
                          "quiet": percentiles(quiet), "flood": percentiles(busy), **counts,
                          "rss_mib": {"before": round(rss_before / 2**20, 1), "flood": round(rss_flood / 2**20, 1)}}))


if __name__ == "__main__":
    main()
