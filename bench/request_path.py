"""Server CPU per ``POST /chat-messages``, in process: the request path without a server or sockets around it.

    .venv/bin/python bench/request_path.py                          # this checkout, 5 runs
    .venv/bin/python bench/request_path.py --baseline /tmp/base     # and another checkout's, in the same run
    .venv/bin/python bench/request_path.py --instructions --baseline /tmp/base   # instructions per POST (callgrind)

Calls the example project's ASGI application directly (``example_project.asgi``, the example's real settings:
presence on, its middleware, metrics), 16 requests at a time, on a fresh SQLite file, and divides the process's
CPU time (every thread: the write queue's included) by the number of requests. Each variant runs in its own
process: the example as it is; without Django middleware (``bench.settings_no_middleware``); with Python's
garbage-collector settings (``GC_THRESHOLD=None``). The differences say what the middleware and the collector
cost a request; ``bench/run.py`` measures the same POST through uvicorn. The runs of the trees and variants are
interleaved (the VM's speed drifts over minutes). Prints min / median / max of the runs, and with
``--baseline`` the run-by-run ratio to the baseline.

``--instructions`` counts instructions instead, as ``bench/join_path.py --instructions`` does (the example
variant only): a run of 200 requests and one of ``200 + --requests`` under ``valgrind --tool=callgrind``, the
difference over ``--requests``, so start-up and migrations cancel out. It repeats to within about a percent on
a VM whose CPU time moves by tens of percent.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {
    "example": {},
    "no middleware": {"DJANGO_SETTINGS_MODULE": "bench.settings_no_middleware"},
    "GC_THRESHOLD=None": {"MOTIA_BENCH_GC_THRESHOLD": "none"},
}


async def _request(app: Any, body: bytes) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/chat-messages", "raw_path": b"/chat-messages", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("localhost", 8000),
             "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"),
                         (b"accept", b"application/json"), (b"content-length", str(len(body)).encode())]}
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the client does not disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _drive(app: Any, requests: int, concurrency: int) -> float:
    """CPU milliseconds per request over ``requests`` POSTs, ``concurrency`` at a time."""
    bodies = [json.dumps({"channel_id": f"rp-{n % 50}", "message": f"m{n}"}).encode() for n in range(requests)]
    todo = iter(bodies)
    statuses: list[int] = []

    async def worker() -> None:
        for body in todo:
            statuses.append(await _request(app, body))

    for _ in range(50):  # warm: caches, the sessions table, the write queue's thread
        await _request(app, bodies[0])
    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = time.process_time() - start
    bad = [s for s in statuses if s != 201]
    if bad:
        raise SystemExit(f"{len(bad)} requests answered {sorted(set(bad))}")
    return cpu * 1000 / requests


def child(requests: int, concurrency: int) -> None:
    """One run in this process: set the example up on a fresh SQLite file and print CPU ms per request."""
    path = Path(tempfile.mkdtemp(prefix="motia-request-path-")) / "db.sqlite3"
    os.environ.update(DATABASE_URL=f"sqlite:///{path}", DJANGO_DEBUG="0", DJANGO_SECRET_KEY="bench-only",
                      FAKE_LLM_DELAY_MS="0", MOTIA_LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from example_project.asgi import http_application

    if os.environ.get("MOTIA_BENCH_GC_THRESHOLD") == "none":  # what GC_THRESHOLD=None leaves: Python's own
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)

    print(json.dumps(asyncio.run(_drive(http_application, requests, concurrency))))


def measure(code: Path, extra: dict[str, str], args: argparse.Namespace) -> list[float]:
    env = {**os.environ, **extra, "PYTHONPATH": os.pathsep.join([str(code), str(ROOT)])}
    runs = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--requests",
                              str(args.requests), "--concurrency", str(args.concurrency)],
                             env=env, cwd=code, capture_output=True, text=True, check=True)
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", metavar="PATH", help="another checkout (git worktree add PATH <commit>)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per request (valgrind; --requests defaults to 1000)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.concurrency)
        return
    trees = {"motia_django": ROOT, **({"baseline": Path(args.baseline).resolve()} if args.baseline else {})}
    results: dict[str, Any] = {}
    if args.instructions:
        from join_path import instructions_per  # the sibling script, imported by the parent only

        if args.requests == parser.get_default("requests"):
            args.requests = 1000
        for tree, code in trees.items():
            results[tree] = instructions_per(Path(__file__).resolve(), code, "--requests", 200, args.requests,
                                             args.concurrency)
            print(f"{tree:>12} instructions per POST: {results[tree]:,.0f}", flush=True)
        print(json.dumps(results))
        return
    runs: dict[str, list[float]] = {}
    plan = [(tree, code, variant, extra) for tree, code in trees.items() for variant, extra in VARIANTS.items()
            if tree == "motia_django" or variant == "example"]
    once = argparse.Namespace(**{**vars(args), "runs": 1})
    for n in range(args.runs):  # interleaved, alternating the order: the VM's speed drifts over minutes
        for tree, code, variant, extra in plan if n % 2 == 0 else plan[::-1]:
            runs.setdefault(f"{tree}, {variant}", []).extend(measure(code, extra, once))
    for name, found in runs.items():
        results[name] = {"min": min(found), "median": statistics.median(found), "max": max(found)}
        print(f"{name:<32} CPU ms per POST: min {min(found):.3f}  median {statistics.median(found):.3f}  "
              f"max {max(found):.3f}", flush=True)
    if "baseline, example" in runs:
        ratios = [a / b for a, b in zip(runs["motia_django, example"], runs["baseline, example"], strict=True)]
        print(f"{'vs baseline, run by run':<32} {min(ratios):.2f}x-{max(ratios):.2f}x", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
