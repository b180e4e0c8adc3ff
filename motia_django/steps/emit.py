"""``emit()``: store an event for every subscribing event step, and announce it after commit; and the same for
the event steps a stream's change triggers (``store_triggered``).

The event rows are written in the caller's transaction (they commit or roll back with the caller's own writes).
After the commit, ``events_stored`` is sent; how workers are woken is the worker side's business
(``motia_django.steps.worker`` connects to the signal in ``AppConfig.ready()``). A lost wake-up costs latency, not
the event: workers also poll the table (``WORKER_POLL_SECONDS``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.utils import timezone

from motia_django.bridge import asyncify, dual
from motia_django.encoding import encode
from motia_django.exceptions import EmitError, StreamValidationError
from motia_django.models import Event
from motia_django.steps.event_queue import announce
from motia_django.steps.registry import step_registry
from motia_django.steps.triggers import trigger_input
from motia_django.stream.changes import Change
from motia_django.tracing import current_trace_id, new_trace_id

if TYPE_CHECKING:
    from motia_django.steps.config import Step

__all__ = ["aemit", "emit", "store_triggered"]

log = logging.getLogger("motia_django.events")

def _emit(event: dict[str, Any], *, trace_id: str | None = None, step: Step | None = None,
          using: str | None = None) -> list[int]:
    """Emit ``{"topic": ..., "data": ...}`` from plain Django code (steps use ``context.emit``).

    Returns the ids of the stored ``Event`` rows (one per subscribing step; none if nobody subscribes).
    Awaitable in async code. ``step`` is the emitting step: its ``emits`` must list the topic.
    """
    if not isinstance(event, dict):
        raise EmitError(f"an event is a dict with topic and data, got {type(event).__name__}")
    topic = event.get("topic")
    if not isinstance(topic, str) or not topic:
        raise EmitError("the event has no topic (a non-empty string)")
    data = event.get("data")
    try:
        encode(data, label="data")
    except StreamValidationError as exc:
        raise EmitError(f"event {topic!r}: {exc}") from None
    if step is not None and not step.may_emit(topic):
        raise EmitError(f"step {step.name!r} emits {topic!r}, which its config does not list in emits "
                        f"({', '.join(step.emits) or 'empty'}); add it to emits")
    subscribers = step_registry.subscribers(topic)
    if not subscribers:
        log.debug("event %r has no subscribers", topic)
        return []
    now = timezone.now()
    trace_id = trace_id or new_trace_id()
    using = using or router.db_for_write(Event)
    rows = [Event(topic=topic, step=s.name, data=data, trace_id=trace_id, emitted_by=step.name if step else "",
                  available_at=now) for s in subscribers]
    with transaction.atomic(using=using):
        created = Event.objects.using(using).bulk_create(rows)
        announce(using)
    ids = [row.pk for row in created if row.pk is not None]
    if len(ids) != len(rows):  # backends that do not return ids from bulk_create
        ids = list(Event.objects.using(using).filter(trace_id=trace_id, topic=topic, created_at__gte=now)
                   .values_list("pk", flat=True))
    return ids


emit = dual(_emit)
aemit = asyncify(_emit)


def store_triggered(*, change: Change, previous: dict[str, Any] | None = None, using: str | None = None,
                    **kwargs: Any) -> None:
    """``change_recorded`` receiver: inside the write's transaction, store one ``Event`` per stream trigger the
    change matches (by group, item, then condition), so the triggered steps run if and only if the write
    commits. A condition that raises is logged and does not trigger."""
    pairs = step_registry.stream_triggers(change.stream)
    if not pairs or change.id is None:
        return
    data = trigger_input(change.stream, change.group_id, change.id, change.type, change.event["data"],
                         change.timestamp, previous)
    trace_id = current_trace_id.get() or new_trace_id()
    now = timezone.now()
    rows = []
    for step, trigger in pairs:
        if not trigger.matches(change.group_id, change.id):
            continue
        if trigger.condition is not None:
            try:
                if not trigger.condition(data):
                    continue
            except Exception:
                log.exception("the stream trigger condition of step %r raised; the change does not trigger it",
                              step.name)
                continue
        rows.append(Event(topic=trigger.topic, step=step.name, data=data, trace_id=trace_id, available_at=now))
    if rows:
        alias = using or router.db_for_write(Event)
        Event.objects.using(alias).bulk_create(rows)
        announce(alias)
