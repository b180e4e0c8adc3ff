"""The scaling model, measured and checked (docs/scaling.md).

    .venv/bin/python bench/scale.py                    # calibrate, check on 4 web processes, project
    .venv/bin/python bench/scale.py --quick            # fewer sockets and shorter phases (about 3 minutes)
    .venv/bin/python bench/scale.py --processes 4 --subscribers 4000 --rates 0,10,40

Scaled setup only: a fresh PostgreSQL database, Redis, ``manage.py motia_worker`` and uvicorn processes.

1. **Calibrate** on one subscribers' server and one writers' server: memory per idle subscribed socket, server CPU
   per socket-second while idle (presence upkeep), CPU per POST on the writer, and on the subscribers' server the
   CPU per change that reaches it (``a``) and per delivery (``b``), from fan-outs to two group sizes.
2. **Check** with ``--processes`` web processes, every one serving both sockets and POSTs: ``loadgen.py mix``
   spreads the sockets over them in rooms of ``--room`` and writes at each of ``--rates``. Measured web CPU,
   RSS, Redis and PostgreSQL CPU, set against what the calibration predicts:
   ``CPU/s = sockets * idle + writes/s * (post + processes_in_room * a + room * b)``.
3. **Project** the same model to 100,000 and 1,000,000 sockets (1% of them writing once a minute, rooms of 20).

Figures go to ``bench/results/<date>-scale.json``; the table is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import cpu_seconds, rss_kib  # noqa: E402
from bench.run import (  # noqa: E402
    PY,
    RESULTS,
    Server,
    Target,
    _env,
    _postgres,
    _raise_nofile,
    _redis_stats,
    loadgen,
    start_worker,
    stop_process,
)

EXAMPLE_APP = "example_project.asgi:application"


@contextlib.contextmanager
def fleet(processes: int, db_url: str, redis_url: str, tmp: Path) -> Iterator[list[Server]]:
    """``processes`` uvicorn servers of the example and one ``motia_worker``, stopped afterwards."""
    env = _env(db_url, redis_url)
    servers: list[Server] = []
    worker = start_worker(env, ROOT, tmp / "worker.log")
    try:
        for _ in range(processes):
            servers.append(Server("uvicorn", EXAMPLE_APP, env, tmp).start())
        yield servers
    finally:
        for s in servers:
            s.stop()
        stop_process(worker)


def _pids(servers: list[Server]) -> list[int]:
    return [s.proc.pid for s in servers if s.proc]


def postgres_cpu() -> float:
    """CPU seconds of every live ``postgres`` process (backends come and go: an estimate)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "comm").read_text().strip() == "postgres":
                    pids.append(int(proc.name))
    return cpu_seconds(pids)


def redis_cpu(url: str) -> float:
    import redis

    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def calibrate(args: argparse.Namespace, db_url: str, tmp: Path) -> dict[str, Any]:
    """The unit costs, on one subscribers' server and one writers' server (the model's inputs)."""
    with fleet(2, db_url, args.redis_url, tmp) as (subs, writer):
        pair = Target("motia", subs, writer)
        subs_pids = ",".join(map(str, _pids([subs])))
        base_rss = rss_kib(_pids([subs]))
        memory = loadgen("memory", pair, "--subscribers", str(args.calibrate_sockets), "--pids", subs_pids)
        idle = loadgen("mix", pair, "--subscribers", str(args.calibrate_sockets), "--room", str(args.room),
                       "--rate", "1", "--duration", "1", "--idle", str(args.idle), "--pids", subs_pids)
        fan = {}
        for n in (args.room, 10 * args.room):
            w0 = cpu_seconds(_pids([writer]))
            res = loadgen("fanout", pair, "--subscribers", str(n), "--ops", str(args.fanout_ops), "--warmup", "2",
                          "--pids", subs_pids)
            ops = args.fanout_ops + 2
            fan[n] = {"subs_cpu_ms": res["busy_cpu_s"] * 1000 / ops,
                      "writer_cpu_ms": (cpu_seconds(_pids([writer])) - w0) * 1000 / ops,
                      "last_p50_ms": res["last"]["p50"], "missing": res["missing"]}
    small, big = fan[args.room], fan[10 * args.room]
    per_delivery = (big["subs_cpu_ms"] - small["subs_cpu_ms"]) / (9 * args.room)
    per_change = max(0.0, small["subs_cpu_ms"] - args.room * per_delivery)
    return {"base_rss_kib": base_rss, "kib_per_socket": memory.get("per_connection_kib"),
            "idle_cpu_ms_per_socket_s": idle["idle_cpu_per_s"] * 1000 / max(1, idle["connected"]),
            "post_cpu_ms": min(small["writer_cpu_ms"], big["writer_cpu_ms"]), "change_cpu_ms": per_change,
            "delivery_cpu_ms": per_delivery, "fanouts": fan}


def predict(units: dict[str, Any], processes: int, sockets: int, room: int, rate: float) -> dict[str, float]:
    """Web CPU (cores) and RSS (MiB) the unit costs predict."""
    cores = (sockets * units["idle_cpu_ms_per_socket_s"]
             + rate * (units["post_cpu_ms"] + min(processes, room) * units["change_cpu_ms"]
                       + room * units["delivery_cpu_ms"])) / 1000
    rss = (processes * units["base_rss_kib"] + sockets * units["kib_per_socket"]) / 1024
    return {"cores": cores, "rss_mib": rss}


def _mix(args: argparse.Namespace, servers: list[Server], rate: float, duration: float, idle: float
         ) -> subprocess.CompletedProcess[str]:
    cmd = [PY, str(ROOT / "bench" / "loadgen.py"), "mix", "--http", ",".join(s.url for s in servers),
           "--ws", ",".join(s.ws_url for s in servers), "--subscribers", str(args.subscribers), "--room",
           str(args.room), "--rate", str(rate), "--duration", str(duration), "--idle", str(idle),
           "--pids", ",".join(map(str, _pids(servers)))]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)


def check(args: argparse.Namespace, db_url: str, tmp: Path, units: dict[str, Any]) -> list[dict[str, Any]]:
    """Each rate on ``--processes`` web processes after one warm-up run (a process's first writes open its
    database connections and fill its caches). Redis commands per write are those over the rate-0 row's rate
    (presence upkeep and heartbeats run at every rate)."""
    rows: list[dict[str, Any]] = []
    idle_commands_per_s = 0.0
    with fleet(args.processes, db_url, args.redis_url, tmp) as servers:
        _mix(args, servers, rate=20, duration=3, idle=1)
        for rate in args.rates:
            r0, p0, redis0 = redis_cpu(args.redis_url), postgres_cpu(), _redis_stats(args.redis_url)
            t0 = time.perf_counter()
            out = _mix(args, servers, rate, args.duration, args.idle)
            if out.returncode:
                rows.append({"rate": rate, "error": out.stderr.strip().splitlines()[-1:]})
                continue
            res = json.loads(out.stdout.strip().splitlines()[-1])
            took = time.perf_counter() - t0
            redis1 = _redis_stats(args.redis_url)
            commands_per_s = ((redis1["total_commands_processed"] - redis0["total_commands_processed"]) / took
                              if redis0 and redis1 else None)
            if not rate and commands_per_s is not None:
                idle_commands_per_s = commands_per_s
            measured = res["write_cpu_per_s"] if rate else res["idle_cpu_per_s"]
            want = predict(units, args.processes, res["connected"], args.room, rate)
            writes_per_s = res["writes"] / took if rate else 0
            rows.append({**res, "rate": rate, "web_cores": measured, "predicted_cores": want["cores"],
                         "predicted_rss_mib": want["rss_mib"], "rss_mib": res["rss_kib"] / 1024,
                         "redis_cores": (redis_cpu(args.redis_url) - r0) / took,
                         "postgres_cores": (postgres_cpu() - p0) / took,
                         "redis_commands_per_s": commands_per_s,
                         "redis_commands_per_write": ((commands_per_s - idle_commands_per_s) / writes_per_s
                                                      if writes_per_s and commands_per_s is not None else None)})
    return rows


def project(units: dict[str, Any], sockets: int, room: int = 20, share: float = 0.01,
            per_process: int = 10_000) -> dict[str, float]:
    """The fleet for ``sockets``: ``share`` of them writing once a minute, rooms of ``room``, ``per_process``
    sockets on each web process."""
    processes = -(-sockets // per_process)
    rate = sockets * share / 60
    want = predict(units, processes, sockets, room, rate)
    return {"sockets": sockets, "writes_per_s": rate, "deliveries_per_s": rate * room, "web_processes": processes,
            "web_cores": want["cores"], "rss_gib": want["rss_mib"] / 1024,
            "redis_publishes_per_s": rate, "redis_messages_out_per_s": rate * min(processes, room)}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def report(units: dict[str, Any], rows: list[dict[str, Any]], projections: list[dict[str, float]]) -> str:
    out = ["### unit costs (one subscribers' server, one writers' server)", "",
           f"- RSS of an idle process: {units['base_rss_kib'] / 1024:.0f} MiB; per idle subscribed socket: "
           f"{units['kib_per_socket']:.1f} KiB",
           f"- CPU while idle, per socket: {units['idle_cpu_ms_per_socket_s'] * 1000:.1f} us per second",
           f"- CPU per POST (writers' server): {units['post_cpu_ms']:.2f} ms",
           f"- CPU per change reaching a process: {units['change_cpu_ms']:.3f} ms; per delivery: "
           f"{units['delivery_cpu_ms'] * 1000:.0f} us", "",
           "### check: measured against predicted", "",
           _row(["writes/s", "sockets", "web CPU (cores)", "predicted", "ratio", "RSS (MiB)", "predicted",
                 "Redis CPU", "PostgreSQL CPU", "Redis cmds/write", "last recv p50/p99 (ms)", "missing+dup"]),
           _row(["---"] * 12)]
    for r in rows:
        if "error" in r:
            out.append(_row([str(r["rate"]), "ERROR", str(r["error"])[:80], *[""] * 9]))
            continue
        last = r["last"]
        lat = "-" if last["p50"] is None else f"{last['p50']:.0f} / {last['p99']:.0f}"
        cmds = r["redis_commands_per_write"]
        out.append(_row([f"{r['rate']:g}", str(r["connected"]), f"{r['web_cores']:.3f}",
                         f"{r['predicted_cores']:.3f}", f"{r['web_cores'] / max(1e-9, r['predicted_cores']):.2f}x",
                         f"{r['rss_mib']:.0f}", f"{r['predicted_rss_mib']:.0f}", f"{r['redis_cores']:.3f}",
                         f"{r['postgres_cores']:.3f}", "-" if cmds is None else f"{cmds:.1f}", lat,
                         str(r["missing"] + r["duplicates"])]))
    out += ["", "### projection (1% of sockets write once a minute, rooms of 20, 10,000 sockets a process)", "",
            _row(["sockets", "writes/s", "deliveries/s", "web processes", "web cores", "web RSS (GiB)",
                  "Redis PUBLISH/s", "Redis messages out/s"]), _row(["---"] * 8)]
    for p in projections:
        out.append(_row([f"{p['sockets']:,}", f"{p['writes_per_s']:.0f}", f"{p['deliveries_per_s']:,.0f}",
                         f"{p['web_processes']:.0f}", f"{p['web_cores']:.1f}", f"{p['rss_gib']:.1f}",
                         f"{p['redis_publishes_per_s']:,.0f}", f"{p['redis_messages_out_per_s']:,.0f}"]))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--subscribers", type=int, default=4000)
    parser.add_argument("--room", type=int, default=20)
    parser.add_argument("--rates", default="0,10,40", help="writes per second, comma-separated")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of writes at each rate")
    parser.add_argument("--idle", type=float, default=15.0, help="seconds without writes at each rate")
    parser.add_argument("--calibrate-sockets", type=int, default=1000)
    parser.add_argument("--fanout-ops", type=int, default=200, help="writes per calibration fan-out (CPU is read in "
                        "10 ms ticks: 200 writes resolve 0.05 ms)")
    parser.add_argument("--postgres-url", default=os.environ.get("MOTIA_TEST_POSTGRES_URL",
                                                                 "postgres://127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("MOTIA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.duration, args.idle, args.calibrate_sockets = 2000, 15.0, 8.0, 500
        args.fanout_ops = 40
    args.rates = [float(r) for r in args.rates.split(",")]
    _raise_nofile()
    print(f"# motia_django scaling check {dt.datetime.now():%Y-%m-%d %H:%M}: {args.processes} uvicorn processes, "
          f"{args.subscribers} sockets in rooms of {args.room}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="motia-scale-") as tmpdir, _postgres(args.postgres_url, ROOT) as db:
        tmp = Path(tmpdir)
        units = calibrate(args, db, tmp)
        print("calibrated:", json.dumps(units), flush=True)
        rows = check(args, db, tmp, units)
    projections = [project(units, n, args.room) for n in (100_000, 1_000_000)]
    text = report(units, rows, projections)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{dt.datetime.now():%Y%m%d-%H%M%S}-scale.json"
    out.write_text(json.dumps({"args": vars(args), "units": units, "check": rows,
                               "projections": projections}, indent=1))
    print(f"\nraw results: {out}")


if __name__ == "__main__":
    main()
