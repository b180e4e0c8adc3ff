"""Running event steps: an ``EventRunner`` claims due events, runs their step, and records the outcome.

Outcomes: ``done``; ``failed`` (the input did not match the step's ``input`` schema: not retried); back to
``pending`` with an exponential backoff; ``dead`` after ``EVENT_MAX_ATTEMPTS``. ``run_pending()`` runs due events
in the calling thread and returns (tests, scripts); ``motia_django.worker`` runs a runner forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import traceback
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async

from motia_django.conf import motia_settings
from motia_django.context import FlowContext
from motia_django.event_queue import claim_events, default_worker_id, finish_event, renew_leases, retry_delay
from motia_django.exceptions import StreamValidationError
from motia_django.models import Event
from motia_django.steps import step_registry
from motia_django.writes import write_scope

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
                async with write_scope():  # the step's writes are committed before it counts as done
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
