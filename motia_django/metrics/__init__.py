"""Prometheus metrics of motia_django: the metric objects, and the helpers the hot paths call to record them.

A leaf: it imports nothing of motia_django but ``compat``, so the transport (the send queue, the consumer) and
the step runners can record without importing anything above them. The endpoint that exposes the metrics is opt-in
(``motia_django.metrics.urls``); recording always happens and costs little:

- frames are counted where they are written (``frame_written``), into plain per-thread integers that are added
  to the Prometheus counter and histogram once per event-loop iteration: a fan-out to a thousand sockets takes
  no lock per frame, only one ``inc`` and one histogram update per batch;
- gauges move once per connect, disconnect, join and leave; step durations once per step run.

With ``PROMETHEUS_MULTIPROC_DIR`` set before the process starts, prometheus-client keeps every value in files of
that directory and the endpoint adds up all processes (docs/metrics.md, "Several processes").

prometheus-client is the ``metrics`` extra. Without it the metric objects below record nothing (``ENABLED`` is
False), the endpoint's modules raise an ImportError naming the extra, and mounting ``motia_django.metrics.urls``
is a system check warning (``motia_django.W023``).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
from bisect import bisect_left
from types import TracebackType
from typing import TYPE_CHECKING, Any

from motia_django.compat import histogram_values, prometheus_client

if TYPE_CHECKING or prometheus_client is not None:
    from prometheus_client import Counter, Gauge, Histogram
else:

    class _Unrecorded:
        """A metric without prometheus-client: takes every call a metric takes, and records nothing."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def labels(self, *args: Any, **kwargs: Any) -> _Unrecorded:
            return self

        def inc(self, amount: float = 1) -> None:
            pass

        dec = set = observe = inc

    Counter = Gauge = Histogram = _Unrecorded

__all__ = [
    "DELAY_BUCKETS",
    "ENABLED",
    "MULTIPROCESS",
    "STEP_BUCKETS",
    "broadcast_delay",
    "connections",
    "flush",
    "frame_written",
    "frames_ignored",
    "frames_sent",
    "multiprocess_dir",
    "slow_client_disconnects",
    "step_duration",
    "step_timer",
    "subscriptions",
]

#: Seconds from commit to socket: a local change takes about a millisecond, one through Redis a few more.
DELAY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds of a step's handler: API steps answer in milliseconds, event steps may call a model for minutes.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

connections = Gauge("motia_websocket_connections", "Open stream WebSocket connections (accepted, not yet closed).",
                    multiprocess_mode="livesum")
subscriptions = Gauge("motia_subscriptions", "Stream subscriptions held by open WebSocket connections.",
                      multiprocess_mode="livesum")
frames_sent = Counter("motia_frames_sent", "Frames written to stream WebSockets (syncs, changes, events, errors).")
frames_ignored = Counter(
    "motia_frames_ignored",
    "Client frames ignored without an answer, by reason: binary, too_large (over MAX_FRAME_BYTES), not_json, "
    "not_an_object.",
    ["reason"],
)
for _reason in ("binary", "too_large", "not_json", "not_an_object"):
    frames_ignored.labels(_reason)  # every reason is exported from the start, at 0
slow_client_disconnects = Counter(
    "motia_slow_client_disconnects",
    "Stream WebSockets closed with code 4013 because the client fell SEND_QUEUE_LIMIT frames behind.",
)
broadcast_delay = Histogram(
    "motia_broadcast_delay_seconds",
    "Seconds from a change's commit to its frame being written to a subscribed socket (one per frame).",
    buckets=DELAY_BUCKETS,
)
step_duration = Histogram("motia_step_duration_seconds", "Seconds a step's handler ran (its writes committed).",
                          ["step", "kind"], buckets=STEP_BUCKETS)

#: False without prometheus-client (the ``metrics`` extra): nothing is recorded.
ENABLED = prometheus_client is not None
#: True when prometheus-client keeps values in ``PROMETHEUS_MULTIPROC_DIR`` (decided when it was imported).
MULTIPROCESS = ENABLED and prometheus_client.values.ValueClass is not prometheus_client.values.MutexValue


def multiprocess_dir() -> str | None:
    """The directory prometheus-client's multiprocess mode writes to, or None (single-process mode)."""
    if not MULTIPROCESS:
        return None
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# --- frames: counted per thread without a lock, added to Prometheus once per loop iteration ------------------


class _Tally:
    """One thread's frames written since the last flush (a process's sockets all write on its loop's thread)."""

    __slots__ = ("delay_sum", "delays", "frames", "loop", "timed")

    def __init__(self) -> None:
        self.frames = 0
        self.delays = [0] * (len(DELAY_BUCKETS) + 1)  # per bucket, the last one +Inf
        self.delay_sum = 0.0
        self.timed = 0
        self.loop: asyncio.AbstractEventLoop | None = None  # where a flush is scheduled


_local = threading.local()


def _tally() -> _Tally:
    try:
        tally: _Tally = _local.tally
    except AttributeError:
        tally = _local.tally = _Tally()
    return tally


def frame_written(committed: float | None = None) -> None:
    """A frame was handed to a socket; ``committed`` is the ``time.monotonic()`` of its change's commit (None for
    syncs, errors and frames of unknown origin)."""
    try:
        tally: _Tally = _local.tally
    except AttributeError:
        tally = _tally()
    tally.frames += 1
    if committed is not None:
        delay = time.monotonic() - committed
        tally.delays[bisect_left(DELAY_BUCKETS, delay)] += 1
        tally.delay_sum += delay
        tally.timed += 1
    scheduled = tally.loop
    if scheduled is None or not scheduled.is_running():  # running: it is this thread's loop, the flush will run
        _schedule(tally)


def _schedule(tally: _Tally) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread: nothing to batch with
        _flush(tally)
        return
    tally.loop = loop
    loop.call_soon(_flush, tally)


def flush() -> None:
    """Add this thread's pending frame counts to the metrics now (tests; the loop does it on its own)."""
    _flush(_tally())


def _flush(tally: _Tally) -> None:
    tally.loop = None
    if not ENABLED:
        tally.frames, tally.delay_sum, tally.timed = 0, 0.0, 0
        tally.delays = [0] * len(tally.delays)
        return
    if tally.frames:
        frames, tally.frames = tally.frames, 0
        frames_sent.inc(frames)
    if tally.timed:
        counts, total = tally.delays, tally.delay_sum
        tally.delays, tally.delay_sum, tally.timed = [0] * len(counts), 0.0, 0
        _observe_many(broadcast_delay, counts, total)


def _observe_many(histogram: Histogram, counts: list[int], total: float) -> None:
    """Add whole buckets to ``histogram`` (prometheus-client has no public "observe n times"; see
    ``motia_django.compat.histogram_values``). Falls back to one observation per frame."""
    values = histogram_values(histogram)
    if values is None or len(values[0]) != len(counts):
        bounds = (*DELAY_BUCKETS, DELAY_BUCKETS[-1] * 2)
        for bound, count in zip(bounds, counts, strict=True):
            for _ in range(count):
                histogram.observe(bound)
        return
    buckets, amount = values
    for value, count in zip(buckets, counts, strict=True):
        if count:
            value.inc(count)
    amount.inc(total)


# --- steps ---------------------------------------------------------------------------------------------------


class step_timer:
    """``with step_timer(name, kind):`` observes how long the block ran in ``motia_step_duration_seconds``
    (``kind``: ``api``, ``event`` or ``cron``). A cancelled run (the worker stopping) is not observed."""

    __slots__ = ("child", "start")

    def __init__(self, step: str, kind: str) -> None:
        self.child = step_duration.labels(step, kind)
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None or issubclass(kind, Exception):
            self.child.observe(time.perf_counter() - self.start)


# --- several processes ---------------------------------------------------------------------------------------


def _mark_dead() -> None:
    """At exit, drop this process's live gauges (its sockets and subscriptions are gone with it)."""
    from prometheus_client import multiprocess

    path = multiprocess_dir()
    if path:
        multiprocess.mark_process_dead(os.getpid(), path)


if MULTIPROCESS:
    atexit.register(_mark_dead)
