"""``emit()``: store an event for every subscribing event step, then wake a worker after commit.

The event rows are written in the caller's transaction (the rows and the caller's own writes commit or roll
back together); only after the commit is a worker woken, through the channel layer (``runworker``) or, in the
embedded default with the in-memory layer, the in-process runner. A lost wake-up costs latency, not the event:
workers also poll the table (``WORKER_POLL_SECONDS``). See ``motia_django.worker`` for how events run.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.utils import timezone

from motia_django.conf import motia_settings
from motia_django.exceptions import MotiaError
from motia_django.models import Event
from motia_django.stream import dual

if TYPE_CHECKING:
    from motia_django.steps import Step

__all__ = ["EmitError", "emit", "events_in_process", "wake_workers"]

log = logging.getLogger("motia_django.events")

WAKE_MESSAGE = {"type": "motia.wake"}


class EmitError(MotiaError, ValueError):
    """The event is malformed, or the emitting step does not list its topic in ``emits``. Nothing was stored."""


def worker_layer_alias() -> str:
    return str(motia_settings.WORKER_LAYER or motia_settings.CHANNEL_LAYER)


def events_in_process() -> bool:
    """Run events in this process? ``EVENTS_IN_PROCESS``, or by default: yes with the in-memory layer."""
    setting = motia_settings.EVENTS_IN_PROCESS
    if setting is not None:
        return bool(setting)
    from django.conf import settings

    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    backend = (layers.get(worker_layer_alias()) or {}).get("BACKEND", "")
    return not backend or backend.endswith("InMemoryChannelLayer")


@dual
def emit(event: dict[str, Any], *, trace_id: str | None = None, step: Step | None = None,
         using: str | None = None) -> list[int]:
    """Emit ``{"topic": ..., "data": ...}`` from plain Django code (steps use ``context.emit``).

    Returns the ids of the stored ``Event`` rows (one per subscribing step; none if nobody subscribes).
    Awaitable in async code. ``step`` is the emitting step: its ``emits`` must list the topic.
    """
    from motia_django.context import new_trace_id
    from motia_django.steps import step_registry

    if not isinstance(event, dict):
        raise EmitError(f"an event is a dict with topic and data, got {type(event).__name__}")
    topic = event.get("topic")
    if not isinstance(topic, str) or not topic:
        raise EmitError("the event has no topic (a non-empty string)")
    data = event.get("data")
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise EmitError(f"event {topic!r}: data is not JSON: {exc}") from None
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
        transaction.on_commit(wake_workers, using=using)
    ids = [row.pk for row in created if row.pk is not None]
    if len(ids) != len(rows):  # backends that do not return ids from bulk_create
        ids = list(Event.objects.using(using).filter(trace_id=trace_id, topic=topic, created_at__gte=now)
                   .values_list("pk", flat=True))
    return ids


def wake_workers() -> None:
    """Tell a worker there is work: the in-process runner, or ``runworker`` through the channel layer."""
    if events_in_process():
        from motia_django.worker import background_worker

        background_worker().notify()
        return
    import functools

    from channels.layers import get_channel_layer

    from motia_django.broadcast import submit

    try:
        layer = get_channel_layer(worker_layer_alias())
        if layer is not None:
            submit(functools.partial(layer.send, motia_settings.WORKER_CHANNEL, dict(WAKE_MESSAGE)))
    except Exception:  # the event is stored; a worker's poll will find it
        log.warning("could not wake the workers on %r; they will find the event when they poll",
                    motia_settings.WORKER_CHANNEL, exc_info=True)
