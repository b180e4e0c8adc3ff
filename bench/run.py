"""The benchmark suite: one command, a table of figures, never a pass/fail exit on time.

    .venv/bin/python bench/run.py                      # embedded default (SQLite + in-memory layer), Daphne
    .venv/bin/python bench/run.py --quick              # fewer operations, under ~2 minutes
    .venv/bin/python bench/run.py --setup both --server daphne,uvicorn,granian
    .venv/bin/python bench/run.py --profile            # + py-spy on the server during latency and tokens
    .venv/bin/python bench/run.py --scenarios sustained --soak 600 --targets motia   # the 10-minute soak
    git worktree add /tmp/base <commit> && .venv/bin/python bench/run.py --baseline /tmp/base   # before/after

Each (setup, server) pair runs every scenario against motia_django (the example project) and against two floors
in the same run: ``bench/floor_app.py`` (a bare Channels consumer and layer, same server software, no
DRF/database/validation) and ``bench/floor_direct.py`` (plain ASGI, direct fan-out, no Channels: the honest
floor for a hub that bypasses the layer; embedded setup only). It prints absolute figures, ratios to each
floor and the targets. Servers are subprocesses on free loopback ports; the load generator
(``bench/loadgen.py``) is another process.

- embedded: one server, a fresh migrated SQLite file, the in-memory channel layer.
- scaled: a fresh PostgreSQL database (``--postgres-url``, admin URL) + Redis (``--redis-url``); two servers
  (subscribers connect to one, writers post to the other) and ``manage.py motia_worker``.

``--baseline PATH`` measures another checkout's motia_django in the same run (its own example project and
migrations, on the same server, database and layer): the table adds its figures and motia_django / baseline.
``--rounds N`` runs the targets N times, in alternating order (A B, B A, ...), since the VM's speed drifts over
minutes: each figure is the median of the rounds with its min-max, and each ratio is taken round by round.

Raw results go to ``bench/results/<date>-<setup>-<server>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import cpu_seconds, rss_kib  # noqa: E402
from tests.support.server import LiveServer, base_env, manage  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PY = sys.executable
EXAMPLE_APP = "example_project.asgi:application"
FLOOR_APP = "bench.floor_app:application"
DIRECT_APP = "bench.floor_direct:application"
SETTINGS = "example_project.settings"  # --settings


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server(LiveServer):
    """One ASGI server subprocess (daphne, uvicorn or granian) with the benchmark's flags and a raised
    open-file limit (1,000 sockets)."""

    start_timeout = 40.0

    def __init__(self, kind: str, app: str, env: dict[str, str], log_dir: Path, code: Path = ROOT) -> None:
        super().__init__(env, log_dir=log_dir, server=kind, app=app)
        self.cwd = code
        if kind == "granian":
            self.stop_signal = signal.SIGINT

    @property
    def kind(self) -> str:
        return self.server

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        port = str(self.port)
        if self.kind == "uvicorn":
            return [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", port, "--log-level", "warning",
                    "--no-access-log", "--lifespan", "off", "--ws-ping-interval", "0", self.app]
        if self.kind == "granian":
            return [PY, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", port,
                    "--workers", "1", "--log-level", "warning", self.app]
        return [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", port, "-v", "0", "--ping-interval", "3600", self.app]

    def popen_kwargs(self) -> dict[str, Any]:
        return {"preexec_fn": _raise_nofile}


@dataclass
class Target:
    """The servers of one measured system: ``subs`` serves WebSockets, ``writer`` serves the POSTs."""

    name: str
    subs: Server
    writer: Server
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis_url: str | None = None

    @property
    def server_pids(self) -> list[int]:
        return [s.proc.pid for s in {id(self.subs): self.subs, id(self.writer): self.writer}.values() if s.proc]


@dataclass
class Plan:
    """How many operations each scenario does (``--quick`` shrinks them)."""

    latency_ops: int = 500
    latency_warmup: int = 20
    throughput_s: float = 10.0
    posters: int = 16
    fanouts: tuple[int, ...] = (200, 1000)
    fanout_ops: int = 50
    token_runs: int = 5
    memory_conns: int = 1000
    connect_subs: int = 1000
    sustained_subs: int = 1000
    sustained_rate: float = 10.0
    sustained_s: float = 60.0
    storm_subs: int = 5000
    storm_groups: int = 50
    storm_items: int = 20


QUICK = Plan(latency_ops=150, throughput_s=3.0, fanout_ops=10, token_runs=2, memory_conns=1000, sustained_s=15.0,
             storm_subs=2000)


# --- systems under test -------------------------------------------------------------------------------------

def _env(database_url: str, redis_url: str | None, code: Path = ROOT, **extra: str) -> dict[str, str]:
    env = base_env(database_url, DJANGO_SETTINGS_MODULE=SETTINGS, DJANGO_DEBUG="0", DJANGO_SECRET_KEY="bench-only",
                   FAKE_LLM_DELAY_MS="0", MOTIA_LOG_LEVEL="WARNING", **extra)
    if code != ROOT:  # the baseline: its tree first, so its motia_django and example are the ones imported
        env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@contextlib.contextmanager
def system(name: str, setup: str, server: str, args: argparse.Namespace, tmp: Path) -> Iterator[Target]:
    """Start motia_django ("motia"), the baseline's ("baseline", another checkout) or a floor ("floor",
    "direct") in ``setup`` on ``server``; stop it afterwards."""
    redis_url = args.redis_url if setup == "scaled" else None
    code = Path(args.baseline).resolve() if name == "baseline" else ROOT
    started: list[Server] = []
    extra: list[subprocess.Popen[bytes]] = []
    db_ctx: contextlib.AbstractContextManager[str]
    if name in ("floor", "direct"):
        db_ctx = contextlib.nullcontext("sqlite:///:memory:")
    else:
        pg = args.postgres_url if setup == "scaled" else None
        db_ctx = _postgres(pg, code) if pg else _sqlite(tmp / f"{name}-{server}", code)
    with db_ctx as db_url:
        env = _env(db_url, redis_url, code)
        app = {"floor": FLOOR_APP, "direct": DIRECT_APP}.get(name, EXAMPLE_APP)
        try:
            subs = Server(server, app, env, tmp, code).start()
            started.append(subs)
            writer = subs
            if setup == "scaled":
                writer = Server(server, app, env, tmp, code).start()
                started.append(writer)
                if name in ("motia", "baseline"):
                    extra.append(start_worker(env, code, tmp / f"worker-{server}.log"))
            yield Target(name, subs, writer, extra, redis_url)
        finally:
            for proc in extra:
                stop_process(proc)
            for s in started:
                s.stop()


def start_worker(env: dict[str, str], code: Path, log: Path) -> subprocess.Popen[bytes]:
    """``manage.py motia_worker`` of ``code``'s project, its output appended to ``log``."""
    return subprocess.Popen([PY, str(code / "manage.py"), "motia_worker"], env=env, cwd=code,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, 10 s to exit, then SIGKILL."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()


@contextlib.contextmanager
def _sqlite(path: Path, code: Path = ROOT) -> Iterator[str]:
    path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path / 'bench.sqlite3'}"
    _migrate(_env(url, None, code), code)
    yield url


@contextlib.contextmanager
def _postgres(admin_url: str, code: Path) -> Iterator[str]:
    """A fresh PostgreSQL database migrated by ``code``'s project, dropped afterwards."""
    import psycopg

    name = f"motia_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rstrip('/').rsplit('/', 1)[0]}/{name}"
    try:
        _migrate(_env(url, None, code), code)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(env: dict[str, str], code: Path) -> None:
    if code == ROOT:
        manage(env, "migrate", "--noinput", "-v0")
    else:
        subprocess.run([PY, str(code / "manage.py"), "migrate", "--noinput", "-v0"], env=env, cwd=code,
                       capture_output=True, text=True, timeout=120, check=True)


# --- scenarios ----------------------------------------------------------------------------------------------

def loadgen(scenario: str, target: Target, *opts: str, timeout: float = 600) -> dict[str, Any]:
    cmd = [PY, str(BENCH / "loadgen.py"), scenario, "--http", target.writer.url, "--ws", target.subs.ws_url, *opts]
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.CalledProcessError as exc:
        return {"error": (exc.stderr or "").strip().splitlines()[-1:] or [str(exc)]}
    except subprocess.TimeoutExpired:
        return {"error": [f"timed out after {timeout}s"]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _with_cpu(target: Target, ops: int, fn: Any) -> dict[str, Any]:
    """Run ``fn()`` and add the servers' CPU milliseconds per operation to its result."""
    before = cpu_seconds(target.server_pids)
    res = dict(fn())
    if ops and "error" not in res:
        res["server_cpu_ms_per_op"] = (cpu_seconds(target.server_pids) - before) * 1000 / ops
    return res


def settle(target: Target, idle: float = 0.05, window: float = 0.25, limit: float = 15.0) -> None:
    """Wait until the servers are idle (under ``idle`` of a core over ``window`` seconds), at most ``limit``
    seconds: what a scenario leaves behind (1,000 departures after the memory scenario, say) is not charged to
    the next one's time and CPU."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(target.server_pids)
        time.sleep(window)
        if cpu_seconds(target.server_pids) - before < idle * window:
            return


def run_scenarios(target: Target, plan: Plan, only: set[str], profile_to: Path | None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if "memory" in only:  # first, so that fan-out's 1,000 sockets do not pre-grow the heap it measures
        res["memory"] = loadgen("memory", target, "--subscribers", str(plan.memory_conns),
                                "--pids", ",".join(map(str, target.server_pids)))
    settle(target)
    if "connect" in only:
        spy = _start_profiler(target, profile_to.with_name(profile_to.stem + "-connect.txt") if profile_to else None)
        res["connect"] = _with_cpu(target, plan.connect_subs, lambda: loadgen(
            "connect", target, "--subscribers", str(plan.connect_subs), "--concurrency", "100"))
        _stop_profiler(spy)
    settle(target)
    if "latency" in only:
        spy = _start_profiler(target, profile_to)
        redis_before = _redis_stats(target.redis_url)
        res["latency"] = _with_cpu(target, plan.latency_ops + plan.latency_warmup, lambda: loadgen(
            "latency", target, "--ops", str(plan.latency_ops), "--warmup", str(plan.latency_warmup)))
        _per_op_redis(res["latency"], redis_before, _redis_stats(target.redis_url),
                      plan.latency_ops + plan.latency_warmup)
        _stop_profiler(spy)
    settle(target)
    if "throughput" in only:
        before = cpu_seconds(target.server_pids)
        res["throughput"] = loadgen("throughput", target, "--posters", str(plan.posters),
                                    "--duration", str(plan.throughput_s))
        if res["throughput"].get("posts"):
            res["throughput"]["server_cpu_ms_per_op"] = (
                (cpu_seconds(target.server_pids) - before) * 1000 / res["throughput"]["posts"])
    settle(target)
    if "fanout" in only:
        for n in plan.fanouts:
            res[f"fanout{n}"] = loadgen("fanout", target, "--subscribers", str(n), "--ops", str(plan.fanout_ops),
                                        "--warmup", "2", "--timeout", "30",
                                        "--pids", ",".join(map(str, target.server_pids)))
            busy = res[f"fanout{n}"].get("busy_cpu_s")
            if busy is not None:  # the servers' CPU while the writes were fanned out, per delivery
                res[f"fanout{n}"]["server_cpu_us_per_delivery"] = busy * 1e6 / ((plan.fanout_ops + 2) * n)
    settle(target)
    if "sustained" in only:
        res["sustained"] = _with_cpu(target, int(plan.sustained_s * plan.sustained_rate), lambda: loadgen(
            "sustained", target, "--subscribers", str(plan.sustained_subs), "--rate", str(plan.sustained_rate),
            "--duration", str(plan.sustained_s), "--timeout", "30", "--pids", ",".join(map(str, target.server_pids)),
            timeout=plan.sustained_s + 300))
    settle(target)
    if "storm" in only and target.name in ("motia", "baseline"):  # the floors keep no state over a restart
        res["storm"] = storm(target, plan)
    settle(target)
    if "tokens" in only:
        spy = _start_profiler(target, profile_to.with_name(profile_to.stem + "-tokens.txt") if profile_to else None)
        res["tokens"] = loadgen("tokens", target, "--ops", str(plan.token_runs), "--words", "200")
        _stop_profiler(spy)
    return res


def _redis_stats(url: str | None) -> dict[str, int] | None:
    """Redis's own counters (commands, bytes in and out), for the layer's cost per write (scaled setup)."""
    if url is None:
        return None
    import redis

    client = redis.Redis.from_url(url)
    try:
        info = client.info("stats")
    finally:
        client.close()
    return {k: int(info[k]) for k in ("total_commands_processed", "total_net_input_bytes", "total_net_output_bytes")}


def _per_op_redis(res: dict[str, Any], before: dict[str, int] | None, after: dict[str, int] | None, ops: int) -> None:
    if before is None or after is None or "error" in res:
        return
    res["redis_commands_per_op"] = (after["total_commands_processed"] - before["total_commands_processed"] - 2) / ops
    res["redis_bytes_per_op"] = sum(after[k] - before[k] for k in ("total_net_input_bytes",
                                                                   "total_net_output_bytes")) / ops


def storm(target: Target, plan: Plan) -> dict[str, Any]:
    """The reconnect storm: ``loadgen.py storm`` connects and syncs its sockets, says ``READY``; the subscribers'
    server is stopped (SIGTERM) and started again on its port; the load generator is told when it answered.
    Adds the new server's peak RSS and its CPU per re-join during the storm."""
    cmd = [PY, str(BENCH / "loadgen.py"), "storm", "--http", target.writer.url, "--ws", target.subs.ws_url,
           "--subscribers", str(plan.storm_subs), "--groups", str(plan.storm_groups), "--items",
           str(plan.storm_items), "--concurrency", "100", "--timeout", "10"]
    gen = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    assert gen.stdin is not None and gen.stdout is not None
    try:
        line = gen.stdout.readline()
        if line.strip() != "READY":
            gen.wait(timeout=60)
            return {"error": [line.strip() or (gen.stderr.read() if gen.stderr else "")[-500:]]}
        t_down = time.perf_counter()
        target.subs.stop()
        target.subs.start()
        t_up = time.perf_counter()
        pids = target.server_pids
        cpu_start = cpu_seconds(pids)
        gen.stdin.write(f"UP {t_down} {t_up}\n")
        gen.stdin.flush()
        peak = 0
        while gen.poll() is None:
            peak = max(peak, rss_kib(pids))
            time.sleep(0.05)
        out = gen.stdout.read()
        if gen.returncode:
            return {"error": [(gen.stderr.read() if gen.stderr else "")[-500:]]}
        res = dict(json.loads(out.strip().splitlines()[-1]))
        res["peak_rss_kib"] = peak
        res["server_cpu_ms_per_op"] = (cpu_seconds(pids) - cpu_start) * 1000 / max(1, res["subscribers"])
        return res
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()


def _start_profiler(target: Target, out: Path | None) -> subprocess.Popen[bytes] | None:
    if out is None or target.name != "motia":
        return None
    pids = target.server_pids
    procs = []
    for i, pid in enumerate(pids):
        path = out.with_name(f"{out.stem}-{i}.txt")
        procs.append(subprocess.Popen(["py-spy" if _has("py-spy") else str(Path(PY).parent / "py-spy"),
                                       "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                                       "--nonblocking", "-o", str(path)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)
    return procs[0] if len(procs) == 1 else _Group(procs)  # type: ignore[return-value]


class _Group:
    def __init__(self, procs: list[subprocess.Popen[bytes]]) -> None:
        self.procs = procs

    def send_signal(self, sig: int) -> None:
        for p in self.procs:
            p.send_signal(sig)

    def wait(self, timeout: float) -> None:
        for p in self.procs:
            p.wait(timeout=timeout)


def _stop_profiler(spy: Any) -> None:
    if spy is None:
        return
    spy.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        spy.wait(timeout=30)


def _has(cmd: str) -> bool:
    return any((Path(p) / cmd).exists() for p in os.environ.get("PATH", "").split(os.pathsep))


# --- the table ----------------------------------------------------------------------------------------------

def _get(d: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


# (scenario, metric label, path in the result, unit, target kind, target value)
# target kinds: "ratio<=" / "ratio>=" (motia / the Channels floor), "abs<=" (absolute), "zero" (must be 0),
# "" (no target). A row may carry two targets, e.g. a ratio and an absolute bound.
ROWS: list[tuple[str, str, str, str, list[tuple[str, float]]]] = [
    ("connect", "1,000 subscribers synced", "connect.all_synced_ms", "ms", [("abs<=", 1400)]),
    ("connect", "server CPU per join", "connect.server_cpu_ms_per_op", "ms", [("abs<=", 0.5)]),
    ("connect", "missing syncs", "connect.errors", "", [("zero", 0)]),
    ("latency", "ws create p50", "latency.ws.p50", "ms", [("ratio<=", 2)]),
    ("latency", "ws create p90", "latency.ws.p90", "ms", []),
    ("latency", "ws create p99", "latency.ws.p99", "ms", [("ratio<=", 2)]),
    ("latency", "http 201 p50", "latency.http.p50", "ms", []),
    ("latency", "http 201 p99", "latency.http.p99", "ms", []),
    ("latency", "server CPU per POST", "latency.server_cpu_ms_per_op", "ms", []),
    ("latency", "Redis commands per POST (scaled)", "latency.redis_commands_per_op", "", []),
    ("latency", "Redis bytes per POST (scaled)", "latency.redis_bytes_per_op", "B", []),
    ("latency", "missing+dup", "latency.errors", "", [("zero", 0)]),
    ("throughput", "posts/s (16 posters)", "throughput.posts_per_s", "/s", [("ratio>=", 0.3)]),
    ("throughput", "server CPU per POST", "throughput.server_cpu_ms_per_op", "ms", [("ratio<=", 3)]),
    ("throughput", "missing+dup+bad", "throughput.errors", "", [("zero", 0)]),
    ("fanout200", "last recv p50", "fanout200.last.p50", "ms", []),
    ("fanout200", "last recv p99", "fanout200.last.p99", "ms", []),
    ("fanout200", "missing+dup", "fanout200.errors", "", [("zero", 0)]),
    ("fanout1000", "last recv p50", "fanout1000.last.p50", "ms", []),
    ("fanout1000", "last recv p99", "fanout1000.last.p99", "ms", [("ratio<=", 0.25), ("abs<=", 100)]),
    ("fanout1000", "server CPU per delivery", "fanout1000.server_cpu_us_per_delivery", "us", []),
    ("fanout1000", "missing+dup", "fanout1000.errors", "", [("zero", 0)]),
    ("sustained", "last recv p99 (1,000 subs, 10/s)", "sustained.last.p99", "ms", [("abs<=", 250)]),
    ("sustained", "server CPU per write", "sustained.server_cpu_ms_per_op", "ms", []),
    ("sustained", "RSS growth", "sustained.rss_growth_kib", "KiB", []),
    ("sustained", "RSS growth, second half", "sustained.rss_growth_second_half_kib", "KiB", []),
    ("sustained", "missing+dup", "sustained.errors", "", [("zero", 0)]),
    ("storm", "every socket resynced after the restart", "storm.resynced_after_up_ms", "ms", [("abs<=", 10000)]),
    ("storm", "server restart (SIGTERM to answering)", "storm.restart_ms", "ms", []),
    ("storm", "peak server RSS during the storm", "storm.peak_rss_kib", "KiB", []),
    ("storm", "server CPU per re-join", "storm.server_cpu_ms_per_op", "ms", []),
    ("storm", "missing+dup", "storm.errors", "", [("zero", 0)]),
    ("tokens", "final text p50", "tokens.final.p50", "ms", [("abs<=", 50)]),
    ("tokens", "update frames (median)", "tokens.updates_median", "", []),
    ("tokens", "missing final", "tokens.missing_final", "", [("zero", 0)]),
    ("memory", "KiB per idle subscribed conn", "memory.per_connection_kib", "KiB", [("abs<=", 25)]),
]


def _derive(res: dict[str, Any]) -> None:
    """Add the error counts the table shows."""
    for key, val in res.items():
        if isinstance(val, dict) and "error" not in val:
            val["errors"] = sum(int(val.get(k) or 0) for k in ("missing", "duplicates", "bad_status", "unexpected"))
        if key == "throughput" and isinstance(val, dict) and "posts" in val:
            val["errors"] = val["missing"] + val["duplicates"] + val["bad_status"] + val["unexpected"]


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


def _ratio(m: Any, f: Any) -> float | None:
    return m / f if isinstance(m, int | float) and isinstance(f, int | float) and f else None


def _met(kind: str, goal: float, m: Any, ratio: float | None) -> bool:
    if kind == "ratio<=":
        return ratio is not None and ratio <= goal
    if kind == "ratio>=":
        return ratio is not None and ratio >= goal
    if kind == "abs<=":
        return m is not None and m <= goal
    return bool(m == 0)


def _target(kind: str, goal: float, unit: str) -> str:
    return {"ratio<=": f"<= {goal:g}x", "ratio>=": f">= {goal:g}x", "abs<=": f"<= {goal:g} {unit}",
            "zero": "0"}[kind]


def _spread(values: list[Any], fmt: Any = _fmt, unit: str = "") -> tuple[float | None, str]:
    """The median of a figure over the rounds, and the text that shows it: ``median (min-max)`` over several."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return None, _fmt(values[0] if values else None)
    median = statistics.median(numbers)
    if min(numbers) == max(numbers):
        return median, f"{fmt(median)}{unit}"
    return median, f"{fmt(median)}{unit} ({fmt(min(numbers))}-{fmt(max(numbers))})"


def _ratios(rounds: list[dict[str, dict[str, Any]]], side: str, other: str, path: str) -> tuple[float | None, str]:
    """``side`` / ``other`` taken round by round (both measured minutes apart), median (min-max)."""
    ratios = [_ratio(_get(r.get(side, {}), path), _get(r.get(other, {}), path)) for r in rounds]
    return _spread(ratios, lambda x: f"{x:.2f}", "x")


def table(rounds: list[dict[str, dict[str, Any]]], title: str) -> str:
    """The figures of one (setup, server): each the median of the rounds with their spread, ratios round by
    round, targets judged on the medians."""
    head = ("scenario", "metric", "motia_django", "Channels floor", "ratio", "direct floor", "ratio", "target",
            "met?", "baseline", "vs baseline")
    rows: list[tuple[str, ...]] = []
    for scenario, label, path, unit, targets in ROWS:
        if not any(scenario in r.get("motia", {}) or scenario in r.get("floor", {}) for r in rounds):
            continue
        for results in rounds:
            for side in ("motia", "floor", "direct", "baseline"):
                res = results.get(side, {})
                if isinstance(res.get(scenario), dict) and "error" in res[scenario] and path.endswith((".p50", ".kib")):
                    rows.append((scenario, f"ERROR ({side})", str(res[scenario]["error"])[:60], *[""] * 8))
        m, m_text = _spread([_get(r.get("motia", {}), path) for r in rounds])
        _, f_text = _spread([_get(r.get("floor", {}), path) for r in rounds])
        _, d_text = _spread([_get(r.get("direct", {}), path) for r in rounds])
        _, b_text = _spread([_get(r.get("baseline", {}), path) for r in rounds])
        ratio, ratio_text = _ratios(rounds, "motia", "floor", path)
        met = [_met(kind, goal, m, ratio) for kind, goal in targets]
        rows.append((scenario, label + (f" ({unit})" if unit and unit != "/s" else ""), m_text, f_text, ratio_text,
                     d_text, _ratios(rounds, "motia", "direct", path)[1],
                     ", ".join(_target(kind, goal, unit) for kind, goal in targets),
                     "" if not targets else _yes(all(met)), b_text, _ratios(rounds, "motia", "baseline", path)[1]))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    note = f"{len(rounds)} rounds, the targets in alternating order: medians (min-max)\n\n" if len(rounds) > 1 else ""
    return "\n".join([f"### {title}", "", note + line, sep, *body, ""])


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


# --- main ---------------------------------------------------------------------------------------------------

def run_target(name: str, setup: str, server: str, args: argparse.Namespace, plan: Plan, only: set[str],
               tmp: Path, stamp: str) -> dict[str, Any]:
    """One target's scenarios on its own servers; a failure is recorded, not raised."""
    t0 = time.monotonic()
    profile_to = RESULTS / f"{stamp}-profile-{setup}-{server}.txt" if args.profile else None
    try:
        with system(name, setup, server, args, tmp) as target:
            results = run_scenarios(target, plan, only, profile_to)
    except Exception as exc:
        results = {"error": str(exc)[-2000:]}
        print(f"!! {name} on {server} ({setup}) failed: {str(exc)[-1500:]}", flush=True)
    _derive(results)
    print(f"   {setup}/{server}/{name}: {time.monotonic() - t0:.0f}s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer operations (about 2 minutes)")
    parser.add_argument("--setup", choices=["embedded", "scaled", "both"], default="embedded")
    parser.add_argument("--server", default="daphne", help="comma-separated: daphne, uvicorn, granian")
    parser.add_argument("--scenarios", default="memory,connect,latency,throughput,fanout,sustained,storm,tokens")
    parser.add_argument("--targets", default="motia,floor,direct",
                        help="comma-separated: motia, floor (Channels), direct (plain ASGI; embedded only)")
    parser.add_argument("--profile", action="store_true", help="py-spy the motia server(s) during latency and tokens")
    parser.add_argument("--postgres-url", default=os.environ.get("MOTIA_TEST_POSTGRES_URL",
                                                                 "postgres://127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("MOTIA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--settings", default=SETTINGS, help="motia_django's settings module (experiments)")
    parser.add_argument("--soak", type=float, metavar="SECONDS",
                        help="run the sustained scenario this long (the soak: e.g. 600)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the targets this many times, in alternating order; the table shows medians (min-max)")
    parser.add_argument("--baseline", metavar="PATH",
                        help="also measure the motia_django of another checkout (git worktree add PATH <commit>)")
    args = parser.parse_args()
    globals()["SETTINGS"] = args.settings
    _raise_nofile()
    plan = QUICK if args.quick else Plan()
    if args.soak:
        plan = dataclasses.replace(plan, sustained_s=args.soak)
    only = set(args.scenarios.split(","))
    setups = ["embedded", "scaled"] if args.setup == "both" else [args.setup]
    servers = [s.strip() for s in args.server.split(",") if s.strip()]
    targets = [t.strip() for t in args.targets.split(",")]
    if args.baseline and "baseline" not in targets:
        targets.append("baseline")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    machine = (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}, {platform.system()} {platform.release()}")
    print(f"# motia_django benchmarks {dt.datetime.now():%Y-%m-%d %H:%M} ({'quick' if args.quick else 'full'})")
    print(f"machine: {machine}\n", flush=True)
    tables = []
    for setup in setups:
        for server in servers:
            rounds: list[dict[str, dict[str, Any]]] = []
            for turn in range(args.rounds):
                if args.rounds > 1:
                    print(f"   round {turn + 1} of {args.rounds}", flush=True)
                results: dict[str, dict[str, Any]] = {}
                rounds.append(results)
                with tempfile.TemporaryDirectory(prefix="motia-bench-") as tmpdir:
                    for name in targets if turn % 2 == 0 else targets[::-1]:  # the VM's speed drifts: ABBA
                        if name == "direct" and setup == "scaled":
                            continue  # one process by nature: no scaled-out form
                        results[name] = run_target(name, setup, server, args, plan, only, Path(tmpdir), stamp)
            out = RESULTS / f"{stamp}-{setup}-{server}.json"
            out.write_text(json.dumps({"machine": machine, "quick": args.quick, "setup": setup, "server": server,
                                       "plan": plan.__dict__, "results": rounds[0], "rounds": rounds}, indent=1))
            text = table(rounds, f"{setup} / {server}")
            tables.append(text)
            print(text, flush=True)
    print(f"raw results: {RESULTS}/{stamp}-*.json")


if __name__ == "__main__":
    main()
