"""The event queue is a table: claiming due events, recording outcomes, renewing and returning leases.

A worker claims a batch of due events (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``; other databases: a
conditional ``UPDATE`` per event) and marks them ``running`` with a lease it renews while the handler runs.
An event whose lease expired (its worker died) is due again, so delivery is at least once. A worker that stops
normally gives its events back at once (``release_events``) instead of leaving them to the lease. Everything here
is sync and short; runners call it through a thread.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import close_old_connections, connections, router, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone

from motia_django.conf import motia_settings
from motia_django.models import Event

__all__ = [
    "announce", "claim_events", "default_worker_id", "events_stored", "finish_event", "release_events",
    "renew_leases", "retry_delay",
]

#: Sent after a transaction that stored events (or made some due again) commits; workers are woken on it
#: (``motia_django.steps.worker`` connects in ``AppConfig.ready()``).
events_stored = Signal()

ERROR_LIMIT = 20_000  # characters of traceback kept in Event.last_error
Status = Event.Status


def announce(using: str | None = None) -> None:
    """Send ``events_stored`` once the current transaction on ``using`` commits (now, if none)."""
    transaction.on_commit(lambda: events_stored.send(sender=Event), using=using, robust=True)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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


def release_events(worker_id: str) -> int:
    """Give back every event ``worker_id`` is running (it is stopping): pending and due now, so any runner takes
    them up at once. The interrupted attempt is not counted: a server restarted N times in the middle of a long
    handler does not make its event dead. Returns how many were given back."""
    now = timezone.now()
    return Event.objects.filter(status=Status.RUNNING, locked_by=worker_id).update(
        status=Status.PENDING, available_at=now, lease_until=None, locked_by="", attempts=F("attempts") - 1,
        updated_at=now)


def retry_delay(attempts: int) -> float:
    base = float(motia_settings.EVENT_RETRY_BACKOFF)
    return float(min(base * 2 ** max(attempts - 1, 0), float(motia_settings.EVENT_RETRY_BACKOFF_MAX)))
