"""Running event steps: an ``EventRunner`` claims due events, runs their step, and records the outcome.

Outcomes: ``done``; ``failed`` (the input did not match the step's ``input`` schema: not retried); back to
``pending`` with an exponential backoff; ``dead`` after ``EVENT_MAX_ATTEMPTS``. ``run_pending()`` runs due events
in the calling thread and returns (tests, scripts); ``motia_django.steps.worker`` runs a runner forever.

A serving runner also turns due cron ticks into events (``motia_django.steps.cron``), and sleeps no longer than
until the next tick. Cron steps run from those events like event steps, with ``handler(context)``. ``stop()``
ends ``serve()``: running handlers are cancelled and their events given back (pending, due now), so a worker or
server that stops normally leaves nothing waiting for a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from motia_django.bridge import ThreadPool, blocking, close_pool_connections, in_pool, run_async, to_thread
from motia_django.conf import motia_settings
from motia_django.exceptions import StreamValidationError
from motia_django.metrics import step_timer
from motia_django.models import Event
from motia_django.realtime.presence import expire_leases
from motia_django.steps.context import context_for
from motia_django.steps.cron import enqueue_due_ticks, seconds_until
from motia_django.steps.event_queue import (
    claim_events,
    default_worker_id,
    finish_event,
    release_events,
    renew_leases,
    retry_delay,
)
from motia_django.steps.registry import step_registry
from motia_django.steps.triggers import TOPIC_PREFIX
from motia_django.stream.retention import expire_items
from motia_django.stream.write_queue import write_scope
from motia_django.tracing import step_span

__all__ = ["EventRunner", "run_pending"]

log = logging.getLogger("motia_django.worker")
Status = Event.Status


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
        self.claimed = 0  # events claimed so far
        self.unstarted = 0  # events claimed after stop(): given back without running
        self.released = 0  # events given back when serve() stopped
        self.stopping = False
        self._wake: asyncio.Event | None = None
        self._handlers: ThreadPool | None = None  # sync handlers' threads (background runners)

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def stop(self) -> None:
        """Make ``serve()`` return (call on the runner's loop): no more claims; running handlers are cancelled and
        their events given back."""
        self.stopping = True
        self.wake()

    async def fill(self) -> int:
        """Claim as many due events as there is room for, and start them."""
        free = self.concurrency - len(self.tasks)
        if free <= 0:
            return 0
        events = await to_thread(claim_events)(self.worker_id, free, background=self.background)
        self.claimed += len(events)
        if self.stopping:  # claimed while stopping: serve() gives them back
            self.unstarted += len(events)
            return 0
        for event in events:
            task = asyncio.create_task(self.run_event(event), name=f"motia-event-{event.pk}")
            self.tasks[event.pk] = task
            task.add_done_callback(functools.partial(self._done, event.pk))
        return len(events)

    def _done(self, pk: int, task: asyncio.Task[None] | None = None) -> None:
        self.tasks.pop(pk, None)
        self.wake()

    async def serve(self) -> None:
        """Run until ``stop()``: enqueue due cron ticks, claim on wake-up, on a task finishing, at the next cron
        tick and every ``WORKER_POLL_SECONDS``; then give back what is still running."""
        self._wake = asyncio.Event()
        log.info("motia events worker %s started", self.worker_id)
        next_beat = next_chores = time.monotonic()
        try:
            while not self.stopping:
                self._wake.clear()
                next_tick = None
                try:
                    if step_registry.cron_steps:
                        next_tick = await to_thread(enqueue_due_ticks)(step_registry.cron_steps,
                                                                            background=self.background)
                    await self.fill()
                    lease = float(motia_settings.EVENT_LEASE_SECONDS)
                    if self.tasks and time.monotonic() >= next_beat:
                        await to_thread(renew_leases)(list(self.tasks), self.worker_id)
                        next_beat = time.monotonic() + lease / 3
                    if self.background and time.monotonic() >= next_chores:
                        next_chores = time.monotonic() + float(motia_settings.HOUSEKEEPING_SECONDS)
                        await to_thread(housekeeping)()
                except Exception:
                    log.exception("motia events worker %s: database error; retrying", self.worker_id)
                timeout = min(seconds_until(next_tick, float(motia_settings.WORKER_POLL_SECONDS)),
                              next_chores - time.monotonic() if self.background else math.inf)
                if self.tasks:
                    timeout = min(timeout, next_beat - time.monotonic())
                if self.stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.05, timeout))
        finally:
            await self._give_back()
            await self._close_handler_threads()

    async def _give_back(self) -> None:
        """Cancel the running handlers and return their events to the queue (due now)."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if tasks or self.unstarted:  # else this runner holds nothing (and may touch no database on the way out)
            try:
                self.released = await to_thread(release_events)(self.worker_id)
            except Exception:
                log.exception("motia events worker %s: could not give its events back; they run again after "
                              "their lease", self.worker_id)
                return
        if self.released:
            log.info("motia events worker %s stopped; %d running event(s) given back", self.worker_id, self.released)

    async def _run_sync(self, handler: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """A sync handler: in the caller's thread for ``run_pending()``; in a background runner, in one of its own
        ``concurrency`` threads, whose connections it recycles while it runs and closes when it stops."""
        if not self.background:
            await to_thread(handler)(*args)
            return
        if self._handlers is None:
            self._handlers = ThreadPool(self.concurrency, "motia-handler")
        await in_pool(self._handlers, recycling(handler), *args)

    async def _close_handler_threads(self) -> None:
        pool, self._handlers = self._handlers, None
        if pool is not None:
            await blocking(close_pool_connections, pool, 1.0)
            pool.shutdown(wait=False)

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
            await to_thread(finish_event)(event.pk, self.worker_id, status, error, retry_in)
        except Exception:
            log.exception("motia event %s: could not record %s; it will run again", event.pk, status)
            return
        if retry_in is not None:
            asyncio.get_running_loop().call_later(retry_in, self.wake)

    async def execute(self, event: Event) -> tuple[str, str | None, float | None]:
        """Run the event's step; return (status, error, retry delay)."""
        max_attempts = int(motia_settings.EVENT_MAX_ATTEMPTS)
        if event.attempts > max_attempts:
            return Status.DEAD, (f"gave up after {max_attempts} attempts: the worker running the last one "
                                 f"stopped before it finished (lease expired)\n{event.last_error}"), None
        try:
            step = step_registry.get(event.step)
        except KeyError:
            step = None
        if step is None or step.type not in ("event", "cron"):
            return Status.DEAD, f"no event or cron step named {event.step!r} is registered", None
        context = context_for(step, event.trace_id)
        data: Any = event.data
        if step.input_schema is not None and not event.topic.startswith(TOPIC_PREFIX):  # a trigger's input is ours
            try:
                data = step.input_schema.validate(data, label="input")
            except StreamValidationError as exc:
                context.logger.error(f"event {event.topic!r} does not match the input schema",
                                     {"errors": exc.errors})
                return Status.FAILED, f"input does not match the step's input schema: {exc}", None
        handler = step.handler
        assert handler is not None  # event and cron steps always have one
        args: tuple[Any, ...] = (context,) if step.type == "cron" else (data, context)  # Motia's cron handler(ctx)
        span = step_span(step.name, step.type, event.trace_id, {
            "motia.event.id": event.pk, "motia.event.topic": event.topic, "motia.event.attempt": event.attempts})
        timeout = step.timeout or float(motia_settings.EVENT_TIMEOUT_SECONDS)
        try:
            with step_timer(step.name, step.type), span:
                async with asyncio.timeout(timeout):
                    if step.is_async:
                        async with write_scope():  # the step's writes are committed before it counts as done
                            await handler(*args)
                    else:  # a sync handler cannot be stopped: its thread runs on, its outcome unrecorded
                        await self._run_sync(handler, args)
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                exc = TimeoutError(f"step {step.name!r} ran longer than its timeout of {timeout:g}s")
            error = "".join(traceback.format_exception(exc))
            if event.attempts >= max_attempts:
                context.logger.error(f"event {event.topic!r} failed for the last time (attempt {event.attempts}"
                                     f" of {max_attempts}); marked dead", {"error": repr(exc)})
                return Status.DEAD, error, None
            delay = retry_delay(event.attempts)
            context.logger.warning(f"event {event.topic!r} failed (attempt {event.attempts} of {max_attempts}); "
                                   f"retrying in {delay:g}s", {"error": repr(exc)})
            return Status.PENDING, error, delay
        return Status.DONE, None, None


def housekeeping() -> None:
    """What a serving runner does now and then besides events: retention, and the presence of servers that
    died."""
    expire_items()
    expire_leases()


def recycling(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` with Django's rule for a request's connections: in a long-lived thread, connections that are
    broken or past ``CONN_MAX_AGE`` are closed before and after it. Without it, one connection the database
    dropped (a restart, an idle timeout) failed every later handler of that thread until its events were dead."""

    @functools.wraps(handler)
    def run(*args: Any) -> Any:
        close_old_connections()
        try:
            return handler(*args)
        finally:
            close_old_connections()

    return run


def run_pending(*, concurrency: int | None = None) -> int:
    """Run every due event now, in this thread, and return how many ran (tests and scripts)."""
    runner = EventRunner(concurrency=concurrency, background=False)
    return int(run_async(runner.drain)())
