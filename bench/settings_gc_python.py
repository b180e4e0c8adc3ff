"""An experiment: the example project with another ``MOTIA["GC_THRESHOLD"]``: ``MOTIA_BENCH_GC`` is ``none``
(Python's own collector settings, the default here) or a threshold such as ``2000``.

``bench/run.py --settings bench.settings_gc_python`` against the default shows what ``GC_THRESHOLD`` buys (CPU
per join and per request) and costs (longer young collections, memory held by waiting garbage);
``MOTIA_BENCH_GC_LOG=PATH`` writes every collection's pause to ``PATH.<pid>``. docs/performance.md has the figures.
"""

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import MOTIA

_GC = os.environ.get("MOTIA_BENCH_GC", "none")
MOTIA = {**MOTIA, "GC_THRESHOLD": None if _GC == "none" else int(_GC)}

if os.environ.get("MOTIA_BENCH_GC_LOG"):  # experiment: each collection's generation, pause (ms) and objects collected
    import gc
    import time

    _log = open(os.environ["MOTIA_BENCH_GC_LOG"] + f".{os.getpid()}", "a", buffering=1)  # noqa: SIM115
    _start: list[float] = [0.0]

    def _gc_callback(phase: str, info: dict) -> None:
        if phase == "start":
            _start[0] = time.perf_counter()
        else:
            _log.write(f"{info['generation']} {(time.perf_counter() - _start[0]) * 1000:.3f} {info['collected']}\n")

    gc.callbacks.append(_gc_callback)
