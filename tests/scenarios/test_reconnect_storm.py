"""The reconnect storm, short form (the long one is ``bench/run.py --scenarios storm``): 300 sockets on 10
presence-tracked ``chatMessage`` groups; the server is stopped with SIGTERM and started again on its port; every
socket reconnects as Motia's client does (2 s, then again 2 s after a refused attempt) and must end holding its
group's full state, including a message written as soon as the server answered, with no create twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import LiveServer, base_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_every_socket_resyncs_after_a_restart(server: str, live_db_url: str, tmp_path: Any) -> None:
    with LiveServer(base_env(live_db_url), log_dir=tmp_path, server=server) as live:
        gen = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "loadgen.py"), "storm", "--http", live.url, "--ws", live.ws_url,
             "--subscribers", "300", "--groups", "10", "--items", "5", "--concurrency", "50", "--timeout", "10"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert gen.stdin is not None and gen.stdout is not None and gen.stderr is not None
        try:
            ready = gen.stdout.readline().strip()
            assert ready == "READY", gen.stderr.read()[-2000:]
            t_down = time.perf_counter()
            live.restart()  # SIGTERM, then the same port again
            t_up = time.perf_counter()
            gen.stdin.write(f"UP {t_down} {t_up}\n")
            gen.stdin.flush()
            out, err = gen.communicate(timeout=180)
        finally:
            if gen.poll() is None:
                gen.kill()
                gen.wait()
        assert gen.returncode == 0, err[-2000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert (result["resynced"], result["missing"], result["duplicates"], result["bad_status"]) == (300, 0, 0, 0)
        assert result["connects"] >= 600  # every socket did reconnect
        assert "Traceback" not in live.log(), live.log()[-3000:]
