"""Where event steps run: a runner serving forever in a daemon thread, and how it is woken.

- ``manage.py motia_worker`` (with channels-redis): starts the runner at once, so events stored while no worker
  ran, retries and expired leases are found by its poll, and listens for wake-ups on ``WORKER_CHANNEL``.
  (``manage.py runworker motia-events`` works too when the project's ASGI application routes the ``channel``
  type to ``motia_django.routing.channel_application()``; its runner starts with the process too.)
- Embedded default (``EVENTS_IN_PROCESS``, on with the in-memory layer): the server process runs the same
  runner; it starts when ``motia_django.asgi.get_asgi_application()`` builds the application (so events left by
  a previous run and cron ticks run as the server starts), else on the first emit, or on the first request
  when unfinished events are waiting.

Stopping: ``BackgroundWorker.stop()`` ends the runner and gives back the events it was running (pending, due
now). ``motia_worker`` calls it on SIGTERM/SIGINT; in a server process the ASGI lifespan shutdown calls it
(``motia_django.asgi.lifespan``: uvicorn, which re-raises SIGTERM after its graceful shutdown and so runs no
exit hooks), and so does the interpreter's normal exit (Daphne on SIGTERM, Ctrl-C, ``runserver`` reloads),
before the thread pools shut down. A process killed outright (SIGKILL, a crash, the OOM killer) gives nothing
back: its events run again after their lease (``EVENT_LEASE_SECONDS``).

``wake_workers`` is connected to ``events.events_stored`` in ``AppConfig.ready()``: it nudges this process's
runner, or sends a wake-up message through the channel layer to the worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import threading
import time
from typing import Any

from channels.consumer import AsyncConsumer
from channels.layers import get_channel_layer
from channels.routing import ChannelNameRouter
from django.apps import apps
from django.conf import settings
from django.core.signals import request_started

from motia_django.compat import at_interpreter_shutdown
from motia_django.conf import motia_settings
from motia_django.layers import submit
from motia_django.models import Event
from motia_django.steps.event_queue import events_stored, release_events
from motia_django.steps.runner import EventRunner

__all__ = [
    "BackgroundWorker", "EventWorkerConsumer", "background_worker", "channel_router", "connect",
    "events_in_process", "wake_workers", "worker_layer_alias",
]

log = logging.getLogger("motia_django.worker")
Status = Event.Status
WAKE_MESSAGE = {"type": "motia.wake"}


def worker_layer_alias() -> str:
    return str(motia_settings.WORKER_LAYER or motia_settings.CHANNEL_LAYER)


def events_in_process() -> bool:
    """Run events in this process? ``EVENTS_IN_PROCESS``, or by default: yes with the in-memory layer."""
    setting = motia_settings.EVENTS_IN_PROCESS
    if setting is not None:
        return bool(setting)
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    backend = (layers.get(worker_layer_alias()) or {}).get("BACKEND", "")
    return not backend or backend.endswith("InMemoryChannelLayer")


class BackgroundWorker:
    """An ``EventRunner`` serving on its own loop in a daemon thread of this process, until ``stop()``."""

    def __init__(self) -> None:
        self.runner: EventRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._exit_hook = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (it begins with a look at the table, so nothing needs to wait for it). Does nothing
        once ``stop()`` was called."""
        with self._lock:
            if self.running or self._stopped:
                return
            if not self._exit_hook:
                at_interpreter_shutdown(self._exit)
                self._exit_hook = True
            self._thread = threading.Thread(target=self._main, name="motia-events", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> int:
        """Stop the runner: no more claims; running handlers are cancelled and their events given back (pending,
        due now; an interrupted handler runs again: delivery is at least once). Returns how many were given
        back. Sync handlers cannot be interrupted: one that finishes within 5 s is recorded as usual; a longer
        one's event is given back and its thread runs on, its outcome not recorded (the event is no longer
        this runner's)."""
        with self._lock:
            self._stopped = True
            thread, loop, runner = self._thread, self._loop, self.runner
        if thread is None or runner is None or loop is None:
            return 0
        if thread.is_alive() and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(runner.stop)
            thread.join(timeout)
        if thread.is_alive() and runner.claimed:  # stuck: give the events back from here
            log.warning("motia events worker %s did not stop within %ss; giving its events back",
                        runner.worker_id, timeout)
            try:
                return release_events(runner.worker_id)
            except Exception:
                log.exception("could not give the events back; they run again after their lease")
                return 0
        return runner.released

    def _exit(self) -> None:
        if self.running:
            self.stop()

    def _main(self) -> None:
        while not apps.ready:  # started from AppConfig.ready(): let the other apps finish first
            time.sleep(0.05)
        with self._lock:
            if self._stopped:  # stopped before it began
                return
            loop, runner = asyncio.new_event_loop(), EventRunner(background=True)
            self._loop, self.runner = loop, runner
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.serve())
        except Exception:  # pragma: no cover - serve() catches everything it expects
            log.exception("motia events worker stopped")
        finally:
            loop.close()

    def notify(self) -> None:
        """Wake the runner (starting it if needed); safe from any thread. A runner still starting up needs no
        wake-up: its first step is a look at the table."""
        self.start()
        loop, runner = self._loop, self.runner
        if loop is not None and runner is not None and not loop.is_closed():
            loop.call_soon_threadsafe(runner.wake)


_background = BackgroundWorker()


def background_worker() -> BackgroundWorker:
    return _background


# --- waking workers -------------------------------------------------------------------------------------------


def wake_workers(**kwargs: Any) -> None:
    """Tell a worker there is work: the in-process runner, or the worker processes through the channel layer."""
    if events_in_process():
        background_worker().notify()
        return
    try:
        layer = get_channel_layer(worker_layer_alias())
        if layer is not None:
            submit(functools.partial(layer.send, motia_settings.WORKER_CHANNEL, dict(WAKE_MESSAGE)))
    except Exception:  # the event is stored; a worker's poll will find it
        log.warning("could not wake the workers on %r; they will find the event when they poll",
                    motia_settings.WORKER_CHANNEL, exc_info=True)


class EventWorkerConsumer(AsyncConsumer):
    """Receives wake-ups on ``WORKER_CHANNEL`` and passes them to this process's runner."""

    async def motia_wake(self, message: dict[str, Any]) -> None:
        background_worker().notify()


def channel_router() -> ChannelNameRouter:
    """For the ASGI application: ``ProtocolTypeRouter({..., "channel": channel_router()})``."""
    return ChannelNameRouter({motia_settings.WORKER_CHANNEL: EventWorkerConsumer.as_asgi()})


def connect() -> None:
    """Called from ``AppConfig.ready``: wake workers on new events and, in embedded mode, look at the table
    on the first request (events left by a previous run). In Channels' ``runworker`` for ``WORKER_CHANNEL``,
    start the runner now, as ``motia_worker`` does: events stored while no worker ran, and those a killed worker
    left behind (their lease run out), are claimed at once, not at the first wake-up."""
    events_stored.connect(wake_workers, dispatch_uid="motia_wake_workers")
    if events_in_process():
        request_started.connect(_first_request, dispatch_uid="motia_events_first_request")
    if is_runworker(sys.argv):
        background_worker().start()


def is_runworker(argv: list[str]) -> bool:
    """Is this process ``manage.py runworker`` listening on ``WORKER_CHANNEL``?"""
    if "runworker" not in argv[1:3]:
        return False
    return motia_settings.WORKER_CHANNEL in argv[argv.index("runworker") + 1:]


def _first_request(**kwargs: Any) -> None:
    request_started.disconnect(dispatch_uid="motia_events_first_request")
    if background_worker().running:
        return
    try:
        waiting = Event.objects.filter(status__in=[Status.PENDING, Status.RUNNING]).exists()
    except Exception:  # e.g. not migrated yet
        return
    if waiting:
        background_worker().start()
