"""Running event steps: claim due events from the database, run their step, record the outcome.

The database is the queue; the channel layer only wakes workers up. A worker claims a batch of due events
(PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``; other databases: a conditional ``UPDATE`` per event), marks
them ``running`` with a lease it renews while the handler runs, and then ``done``, ``failed`` (input did not
match the step's ``input`` schema: not retried), back to ``pending`` with a backoff, or ``dead`` after
``EVENT_MAX_ATTEMPTS``. A worker killed mid-handler stops renewing; when its lease expires another worker
claims the event again. Delivery is therefore at least once, and handlers must be idempotent.

Where it runs:

- ``manage.py runworker motia-events`` (Channels' worker, with channels-redis): the project's ASGI application
  routes the ``channel`` type to ``channel_router()``; each wake-up message reaches ``EventWorkerConsumer``,
  which nudges this process's ``BackgroundWorker``. That runner also starts when the process starts
  (``autostart()`` from ``AppConfig.ready``), so events emitted while no worker ran, retries and expired
  leases are found by its poll even when no message arrives.
- Embedded default (in-memory channel layer): the server process runs the same ``BackgroundWorker``; it
  starts on the first emit, or on the first request when unfinished events are waiting.
- ``run_pending()`` runs due events in the calling thread and returns (tests, scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.consumer import AsyncConsumer
from channels.routing import ChannelNameRouter
from django.core.signals import request_started
from django.db import close_old_connections, connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from motia_django.conf import motia_settings
from motia_django.exceptions import StreamValidationError
from motia_django.models import Event

__all__ = [
    "BackgroundWorker", "EventRunner", "EventWorkerConsumer", "autostart", "background_worker", "channel_router",
    "run_pending",
]

log = logging.getLogger("motia_django.worker")
ERROR_LIMIT = 20_000  # characters of traceback kept in Event.last_error
Status = Event.Status


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# --- database bookkeeping (sync; called through sync_to_async) ------------------------------------------------


def claim_events(worker_id: str, limit: int, *, background: bool = True) -> list[Event]:
    """Take up to ``limit`` due events (pending and available, or running with an expired lease)."""
    if background:
        close_old_connections()  # a long-lived thread: drop connections the database closed
    if limit <= 0:
        return []
    now = timezone.now()
    due = Q(status=Status.PENDING, available_at__lte=now) | Q(status=Status.RUNNING, lease_until__lt=now)
    claim = {"status": Status.RUNNING, "locked_by": worker_id, "attempts": F("attempts") + 1,
             "lease_until": now + timedelta(seconds=float(motia_settings.EVENT_LEASE_SECONDS)), "updated_at": now}
    alias = router.db_for_write(Event)
    events = Event.objects.using(alias)
    ids: list[int] = []
    if connections[alias].features.has_select_for_update_skip_locked:
        with transaction.atomic(using=alias):
            ids = list(events.select_for_update(skip_locked=True).filter(due)
                       .order_by("available_at", "id").values_list("id", flat=True)[:limit])
            events.filter(id__in=ids).update(**claim)
    else:  # SQLite & co.: the row is ours if it is still exactly as we read it
        candidates = events.filter(due).order_by("available_at", "id").values_list("id", "status", "lease_until")
        for pk, status, lease_until in candidates[: limit * 4]:
            if events.filter(id=pk, status=status, lease_until=lease_until).update(**claim):
                ids.append(pk)
                if len(ids) >= limit:
                    break
    return list(events.filter(id__in=ids).order_by("available_at", "id"))


def finish_event(event_id: int, worker_id: str, status: str, error: str | None = None,
                 retry_in: float | None = None) -> bool:
    """Record the outcome, if the event is still ours (a lease lost to another worker is not overwritten)."""
    now = timezone.now()
    fields: dict[str, Any] = {"status": status, "lease_until": None, "updated_at": now}
    if error is not None:
        fields["last_error"] = error[-ERROR_LIMIT:]
    if retry_in is not None:
        fields["available_at"] = now + timedelta(seconds=retry_in)
    return bool(Event.objects.filter(pk=event_id, status=Status.RUNNING, locked_by=worker_id).update(**fields))


def renew_leases(event_ids: Sequence[int], worker_id: str) -> None:
    if event_ids:
        lease_until = timezone.now() + timedelta(seconds=float(motia_settings.EVENT_LEASE_SECONDS))
        Event.objects.filter(pk__in=list(event_ids), status=Status.RUNNING, locked_by=worker_id).update(
            lease_until=lease_until)


def retry_delay(attempts: int) -> float:
    base = float(motia_settings.EVENT_RETRY_BACKOFF)
    return float(min(base * 2 ** max(attempts - 1, 0), float(motia_settings.EVENT_RETRY_BACKOFF_MAX)))


# --- running events --------------------------------------------------------------------------------------------


class EventRunner:
    """Claims and runs events on one asyncio loop, at most ``concurrency`` at a time.

    ``background`` is True in a worker thread (sync handlers run in threads of their own, connections are
    recycled) and False for ``run_pending()`` (everything runs in the caller's thread and transaction).
    """

    def __init__(self, *, worker_id: str | None = None, concurrency: int | None = None,
                 background: bool = True) -> None:
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = int(concurrency or motia_settings.WORKER_CONCURRENCY)
        self.background = background
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._wake: asyncio.Event | None = None

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def fill(self) -> int:
        """Claim as many due events as there is room for, and start them."""
        free = self.concurrency - len(self.tasks)
        if free <= 0:
            return 0
        events = await sync_to_async(claim_events)(self.worker_id, free, background=self.background)
        for event in events:
            task = asyncio.create_task(self.run_event(event), name=f"motia-event-{event.pk}")
            self.tasks[event.pk] = task
            task.add_done_callback(functools.partial(self._done, event.pk))
        return len(events)

    def _done(self, pk: int, task: asyncio.Task[None] | None = None) -> None:
        self.tasks.pop(pk, None)
        self.wake()

    async def serve(self) -> None:
        """Run forever: claim on wake-up, on a task finishing, and every ``WORKER_POLL_SECONDS``."""
        self._wake = asyncio.Event()
        log.info("motia events worker %s started", self.worker_id)
        next_beat = time.monotonic()
        while True:
            self._wake.clear()
            try:
                await self.fill()
                lease = float(motia_settings.EVENT_LEASE_SECONDS)
                if self.tasks and time.monotonic() >= next_beat:
                    await sync_to_async(renew_leases)(list(self.tasks), self.worker_id)
                    next_beat = time.monotonic() + lease / 3
            except Exception:
                log.exception("motia events worker %s: database error; retrying", self.worker_id)
            timeout = float(motia_settings.WORKER_POLL_SECONDS)
            if self.tasks:
                timeout = max(0.05, min(timeout, next_beat - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def drain(self) -> int:
        """Run due events until none is left (including retries that are due right away)."""
        total = 0
        while True:
            total += await self.fill()
            if not self.tasks:
                return total
            await asyncio.wait(list(self.tasks.values()))

    async def run_event(self, event: Event) -> None:
        try:
            status, error, retry_in = await self.execute(event)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in here must not kill the worker; the lease brings the event back
            log.exception("motia event %s: unexpected worker error", event.pk)
            return
        try:
            await sync_to_async(finish_event)(event.pk, self.worker_id, status, error, retry_in)
        except Exception:
            log.exception("motia event %s: could not record %s; it will run again", event.pk, status)
            return
        if retry_in is not None:
            asyncio.get_running_loop().call_later(retry_in, self.wake)

    async def execute(self, event: Event) -> tuple[str, str | None, float | None]:
        """Run the event's step; return (status, error, retry delay)."""
        from motia_django.context import FlowContext
        from motia_django.steps import step_registry

        max_attempts = int(motia_settings.EVENT_MAX_ATTEMPTS)
        if event.attempts > max_attempts:
            return Status.DEAD, (f"gave up after {max_attempts} attempts: the worker running the last one "
                                 f"stopped before it finished (lease expired)\n{event.last_error}"), None
        try:
            step = step_registry.get(event.step)
        except KeyError:
            return Status.DEAD, f"no event step named {event.step!r} is registered", None
        context = FlowContext(event.trace_id, step)
        data: Any = event.data
        if step.input_schema is not None:
            try:
                data = step.input_schema.validate(data, label="input")
            except StreamValidationError as exc:
                context.logger.error(f"event {event.topic!r} does not match the input schema",
                                     {"errors": exc.errors})
                return Status.FAILED, f"input does not match the step's input schema: {exc}", None
        handler = step.handler
        assert handler is not None  # event steps always have one
        try:
            if step.is_async:
                await handler(data, context)
            else:
                await sync_to_async(handler, thread_sensitive=not self.background)(data, context)
        except Exception as exc:
            error = traceback.format_exc()
            if event.attempts >= max_attempts:
                context.logger.error(f"event {event.topic!r} failed for the last time (attempt {event.attempts}"
                                     f" of {max_attempts}); marked dead", {"error": repr(exc)})
                return Status.DEAD, error, None
            delay = retry_delay(event.attempts)
            context.logger.warning(f"event {event.topic!r} failed (attempt {event.attempts} of {max_attempts}); "
                                   f"retrying in {delay:g}s", {"error": repr(exc)})
            return Status.PENDING, error, delay
        return Status.DONE, None, None


def run_pending(*, concurrency: int | None = None) -> int:
    """Run every due event now, in this thread, and return how many ran (tests and scripts)."""
    runner = EventRunner(concurrency=concurrency, background=False)
    return int(async_to_sync(runner.drain)())


class BackgroundWorker:
    """An ``EventRunner`` serving forever on its own loop in a daemon thread of this process."""

    def __init__(self) -> None:
        self.runner: EventRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (it begins with a look at the table, so nothing needs to wait for it)."""
        with self._lock:
            if self.running:
                return
            self._thread = threading.Thread(target=self._main, name="motia-events", daemon=True)
            self._thread.start()

    def _main(self) -> None:
        from django.apps import apps

        while not apps.ready:  # started from AppConfig.ready(): let the other apps finish first
            time.sleep(0.05)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop, self.runner = loop, EventRunner(background=True)
        try:
            loop.run_until_complete(self.runner.serve())
        except Exception:  # pragma: no cover - serve() catches everything it expects
            log.exception("motia events worker stopped")

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


# --- Channels: the consumer ``runworker`` runs ----------------------------------------------------------------


class EventWorkerConsumer(AsyncConsumer):
    """Receives wake-ups on ``WORKER_CHANNEL`` and passes them to this process's runner."""

    async def motia_wake(self, message: dict[str, Any]) -> None:
        background_worker().notify()


def channel_router() -> ChannelNameRouter:
    """For the ASGI application: ``ProtocolTypeRouter({..., "channel": channel_router()})``."""
    return ChannelNameRouter({motia_settings.WORKER_CHANNEL: EventWorkerConsumer.as_asgi()})


def _is_runworker(argv: Sequence[str]) -> bool:
    return len(argv) > 2 and argv[1] == "runworker" and motia_settings.WORKER_CHANNEL in argv[2:]


def autostart(argv: Sequence[str] | None = None) -> None:
    """Called from ``AppConfig.ready``: start the runner in ``runworker motia-events`` processes right away
    (so events stored while no worker ran are found without a wake-up), and in embedded mode arrange a
    look at the table on the first request."""
    from motia_django.events import events_in_process

    if _is_runworker(sys.argv if argv is None else argv):
        background_worker().start()
    elif events_in_process():
        request_started.connect(_first_request, dispatch_uid="motia_events_first_request")


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
