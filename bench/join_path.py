"""Server CPU per join, in process: connect, join a presence-tracked group, sync, close, without a server around it.

    .venv/bin/python bench/join_path.py                          # this checkout, 5 runs
    .venv/bin/python bench/join_path.py --baseline /tmp/base     # and another checkout's, in the same run
    .venv/bin/python bench/join_path.py --runs 1 --py-spy out.txt   # where the CPU goes (py-spy, every thread)
    .venv/bin/python bench/join_path.py --instructions --baseline /tmp/base   # instructions per join (callgrind)

Calls the example project's ASGI application directly (``example_project.asgi``, the example's real settings:
presence on, its middleware, metrics) with in-memory ``receive``/``send``: each socket connects, joins one
``chatMessage`` group (the example's presence stream tracks it, so each join is an arrival), waits for its sync,
and after all are synced they disconnect (a departure each). ``--sockets`` sockets, ``--concurrency`` at a time,
as ``bench/run.py``'s connect scenario does over uvicorn, on a fresh SQLite file. Prints the process's CPU time
(every thread: the database threads included) per socket, min / median / max of the runs. What uvicorn adds (the
handshake, framing) is what ``bench/run.py`` measures beyond this.

On a noisy VM CPU time moves by tens of percent between runs; ``--instructions`` counts instructions instead
(``valgrind --tool=callgrind``, every thread; about 2 minutes a tree): a run of 50 sockets and one of
``50 + --sockets``, the difference divided by ``--sockets``, so start-up and migrations cancel out. The count
repeats to within a few tenths of a percent, whatever else the machine does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Socket:
    """One WebSocket connection, as the server sees it: ``receive`` from a queue, ``send`` into a list."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.accepted = asyncio.Event()
        self.synced = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            self.accepted.set()
        elif message["type"] == "websocket.send" and '"sync"' in (message.get("text") or ""):
            self.synced.set()
        elif message["type"] == "websocket.close":
            raise SystemExit(f"the server closed a socket: {message}")

    async def open(self, group: str) -> None:
        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "ws",
                 "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
                 "client": ("127.0.0.1", 50000), "server": ("localhost", 8000), "subprotocols": [],
                 "headers": [(b"host", b"localhost:8000"), (b"origin", b"http://localhost:8000"),
                             (b"upgrade", b"websocket"), (b"connection", b"Upgrade")]}
        self.task = asyncio.get_running_loop().create_task(self.app(scope, self.inbox.get, self.send))
        await self.inbox.put({"type": "websocket.connect"})
        await self.accepted.wait()
        frame = {"type": "join", "data": {"streamName": "chatMessage", "groupId": group,
                                          "subscriptionId": str(uuid.uuid4())}}
        await self.inbox.put({"type": "websocket.receive", "text": json.dumps(frame)})
        await self.synced.wait()

    async def close(self) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        await self.task


async def _drive(app: Any, sockets: int, concurrency: int) -> float:
    """CPU milliseconds per socket over ``sockets`` connect + join + sync + close."""
    warm = [Socket(app) for _ in range(50)]  # caches, the write queue's and the read threads
    for s in warm:
        await s.open(f"warm-{uuid.uuid4().hex[:8]}")
    await asyncio.gather(*(s.close() for s in warm))
    await asyncio.sleep(0.5)
    group = f"jp-{uuid.uuid4().hex[:8]}"
    todo = iter(range(sockets))
    opened: list[Socket] = []

    async def worker() -> None:
        for _ in todo:
            s = Socket(app)
            await s.open(group)
            opened.append(s)

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await asyncio.gather(*(s.close() for s in opened))
    from motia_django.bridge import to_thread

    await to_thread(lambda: None)()  # the departures' batch has been written once the write queue is idle
    await asyncio.sleep(0.2)
    cpu = time.process_time() - start
    return cpu * 1000 / sockets


def child(sockets: int, concurrency: int) -> None:
    """One run in this process: set the example up on a fresh SQLite file and print CPU ms per socket."""
    path = Path(tempfile.mkdtemp(prefix="motia-join-path-")) / "db.sqlite3"
    os.environ.update(DATABASE_URL=f"sqlite:///{path}", DJANGO_DEBUG="0", DJANGO_SECRET_KEY="bench-only",
                      FAKE_LLM_DELAY_MS="0", MOTIA_LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from example_project.asgi import application

    print(json.dumps(asyncio.run(_drive(application, sockets, concurrency))))


def measure(code: Path, args: argparse.Namespace) -> list[float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(ROOT)])}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--sockets", str(args.sockets),
               "--concurrency", str(args.concurrency)]
    if args.py_spy:
        command = [str(Path(sys.executable).with_name("py-spy")), "record", "--threads", "--nonblocking", "-f",
                   "raw", "-o", args.py_spy, "--", *command]
    runs = []
    for _ in range(args.runs):
        out = subprocess.run(command, env=env, cwd=code, capture_output=True, text=True, check=True)
        runs.append(float([line for line in out.stdout.splitlines() if line[:1].isdigit()][-1]))  # not py-spy's
    return runs


def instructions_per(script: Path, code: Path, option: str, base: int, count: int, concurrency: int) -> float:
    """Instructions per unit of ``script --child`` run on ``code``: the callgrind totals of ``base + count`` and of
    ``base`` units (``option``: ``--sockets``, ``--requests``), over ``count``, so start-up and migrations cancel
    out. bench/request_path.py counts with it too."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(ROOT)])}
    totals = []
    for units in (base, base + count):
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                              str(script), "--child", option, str(units), "--concurrency", str(concurrency)],
                             env=env, cwd=code, capture_output=True, text=True, check=True)
        totals.append(int(re.search(r"Collected : (\d+)", out.stderr).group(1)))  # type: ignore[union-attr]
    return (totals[1] - totals[0]) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", metavar="PATH", help="another checkout (git worktree add PATH <commit>)")
    parser.add_argument("--py-spy", metavar="FILE", help="record the (first tree's) runs with py-spy, raw format")
    parser.add_argument("--instructions", action="store_true", help="count instructions per join (valgrind)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.sockets, args.concurrency)
        return
    trees = {"motia_django": ROOT, **({"baseline": Path(args.baseline).resolve()} if args.baseline else {})}
    results: dict[str, Any] = {}
    if args.instructions:
        for tree, code in trees.items():
            results[tree] = instructions_per(Path(__file__).resolve(), code, "--sockets", 50, args.sockets,
                                             args.concurrency)
            print(f"{tree:>12} instructions per join (connect + join + sync + close): {results[tree]:,.0f}",
                  flush=True)
        print(json.dumps(results))
        return
    for tree, code in trees.items():
        runs = measure(code, args)
        args.py_spy = None
        results[tree] = {"min": min(runs), "median": statistics.median(runs), "max": max(runs)}
        print(f"{tree:>12} CPU ms per join (connect + join + sync + close): min {min(runs):.3f}  median "
              f"{statistics.median(runs):.3f}  max {max(runs):.3f}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
