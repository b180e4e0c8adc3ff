"""Cron steps: their expressions, and their ticks, each claimed once in the database and then run as an ``Event``.

Motia schedules cron steps with node-cron, so the same expressions are accepted: five fields (minute, hour,
day of month, month, day of week), or six with seconds in front (``*/10 * * * * *``), or a macro (``@hourly``,
``@daily``, ...). They are read in the project's ``TIME_ZONE`` (node-cron uses the server's local time) with
``croniter``, a maintained parser that handles daylight saving time. A bad expression is a system check error
naming the file (``motia_django.E112``), raised here as ``ValueError`` and turned into that by the step registry.
croniter is the ``cron`` extra: without it, a cron step is the system check error ``motia_django.E120``.

Every runner (``manage.py motia_worker``, the embedded server's) calls ``enqueue_due_ticks()`` in its loop and
sleeps no longer than until the next tick. One ``CronSchedule`` row per cron step holds its next tick. A runner
owns a due tick when its conditional ``UPDATE ... WHERE next_run_at = <the value it read>`` changes the row
(a concurrent runner's identical UPDATE then matches nothing, on PostgreSQL after waiting for the row lock, on
SQLite behind the write lock), so a tick runs once however many runners look. The winner stores an ``Event``
for the step (topic ``"cron"``) in the same transaction; from there a cron run is an event like any other: a
lease, retries with backoff, ``dead``, the admin and the workbench's Events page.

The row moves to the first tick *after now*, not to the tick that followed the one being run, so ticks missed
while nothing ran (every worker stopped, the server down) are one run: ``data["ticks"]`` says how many it
stands for. And a tick whose previous run has not started yet (every runner busy) adds no second run behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from django.db import close_old_connections, router, transaction
from django.utils import timezone

from motia_django.compat import croniter as croniter_module
from motia_django.models import CronSchedule, Event
from motia_django.steps.event_queue import announce
from motia_django.tracing import new_trace_id

__all__ = [
    "CRON_TOPIC", "MACROS", "MAX_COUNTED_TICKS", "CronStep", "check_expression", "count_ticks", "enqueue_due_ticks",
    "enqueue_run", "next_tick", "seconds_until",
]

if TYPE_CHECKING or croniter_module is not None:
    from croniter import CroniterError, croniter
else:  # no cron step is registered without the 'cron' extra (E120), so nothing below runs
    CroniterError = ValueError

log = logging.getLogger("motia_django.cron")


class CronStep(Protocol):
    """What scheduling needs of a cron step (``motia_django.steps.config.Step``)."""

    name: str
    cron: str


MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _with_seconds(expression: str) -> bool:
    return len(expression.split()) == 6


def check_expression(expression: object) -> str:
    """The expression, stripped, if it is one we can schedule; ``ValueError`` saying why not otherwise."""
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError("a cron step needs a cron expression (a non-empty string)")
    text = " ".join(expression.split())
    if text.startswith("@"):
        text = text.lower()
        if text not in MACROS:
            raise ValueError(f"unknown macro {text!r} (known: {', '.join(MACROS)})")
    elif len(text.split()) not in (5, 6):
        raise ValueError(f"{text!r} has {len(text.split())} fields; give 5 (minute hour day-of-month month "
                         "day-of-week) or 6 (seconds first)")
    elif not croniter.is_valid(text, second_at_beginning=_with_seconds(text)):
        raise ValueError(f"{text!r} is not a valid cron expression")
    try:
        next_tick(text, timezone.now())
    except (CroniterError, ValueError) as exc:  # valid fields that never match, e.g. "0 0 31 2 *"
        raise ValueError(f"{text!r} never fires: {exc}") from None
    return text


def _ticks(expression: str, after: datetime) -> croniter:
    if timezone.is_aware(after):
        after = timezone.localtime(after, timezone.get_default_timezone())
    return croniter(expression, after, second_at_beginning=_with_seconds(expression))


def next_tick(expression: str, after: datetime) -> datetime:
    """The first tick of ``expression`` strictly after ``after``, read in ``TIME_ZONE`` (aware when ``USE_TZ``)."""
    tick: datetime = _ticks(expression, after).get_next(datetime)
    return tick


def count_ticks(expression: str, first: datetime, until: datetime, limit: int) -> int:
    """How many ticks from ``first`` (itself a tick) up to ``until``, counting no further than ``limit``."""
    count, ticks = 1, _ticks(expression, first)
    while count < limit and ticks.get_next(datetime) <= until:
        count += 1
    return count


# --- ticks -------------------------------------------------------------------------------------------------

#: The topic of the events that run cron steps (their ``step`` column names the cron step).
CRON_TOPIC = "cron"
#: Missed ticks are counted up to this many (``data["ticks"]``), so a long outage costs no long loop.
MAX_COUNTED_TICKS = 1000


def _store_run(step: CronStep, using: str, now: datetime, data: dict[str, object]) -> Event | None:
    """Store the run's event, unless a run of the step is still waiting to start (it stands for this tick too)."""
    waiting = Event.objects.using(using).filter(step=step.name, topic=CRON_TOPIC, status=Event.Status.PENDING,
                                                attempts=0)
    if waiting.exists():
        log.info("cron step %s: the previous run has not started yet; this tick is merged into it", step.name)
        return None
    event = Event.objects.using(using).create(topic=CRON_TOPIC, step=step.name, data=data, trace_id=new_trace_id(),
                                              available_at=now)
    announce(using)
    return event


def enqueue_due_ticks(steps: Sequence[CronStep], *, now: datetime | None = None,
                      background: bool = False) -> datetime | None:
    """Claim every due tick of ``steps`` (the registry's cron steps), store one event for each, and return the
    next tick (None without cron steps). ``now`` is for tests; ``background`` recycles a long-lived thread's
    connections."""
    if not steps:
        return None
    if background:
        close_old_connections()
    now = now or timezone.now()
    using = router.db_for_write(CronSchedule)
    schedules = CronSchedule.objects.using(using)
    rows = {row.step: row for row in schedules.filter(step__in=[s.name for s in steps])}
    missing = [s for s in steps if s.name not in rows]
    if missing:  # first sight of a step: its first tick is the next one (another runner may create it too)
        schedules.bulk_create([CronSchedule(step=s.name, cron=s.cron, next_run_at=next_tick(s.cron, now))
                               for s in missing], ignore_conflicts=True)
        rows.update({row.step: row for row in schedules.filter(step__in=[s.name for s in missing])})
    upcoming: list[datetime] = []
    for step in steps:
        row = rows[step.name]
        if row.cron != step.cron:  # the expression changed: start again from now
            following = next_tick(step.cron, now)
            schedules.filter(pk=row.pk, cron=row.cron).update(cron=step.cron, next_run_at=following, updated_at=now)
            upcoming.append(following)
            continue
        if row.next_run_at > now:
            upcoming.append(row.next_run_at)
            continue
        following = next_tick(step.cron, now)
        with transaction.atomic(using=using):
            claimed = schedules.filter(pk=row.pk, cron=row.cron, next_run_at=row.next_run_at).update(
                next_run_at=following, last_run_at=now, updated_at=now)
            if claimed:
                ticks = count_ticks(step.cron, row.next_run_at, now, MAX_COUNTED_TICKS)
                _store_run(step, using, now, {"scheduledAt": row.next_run_at.isoformat(), "ticks": ticks})
        upcoming.append(following)
    return min(upcoming)


def enqueue_run(step: CronStep) -> Event | None:
    """Store a run of the cron step ``step`` now, as a tick would (tests, the admin, scripts). None when a run is
    already waiting to start."""
    now = timezone.now()
    using = router.db_for_write(Event)
    with transaction.atomic(using=using):
        return _store_run(step, using, now, {"scheduledAt": now.isoformat(), "ticks": 1, "manual": True})


def seconds_until(tick: datetime | None, default: float) -> float:
    """How long a runner may sleep before ``tick`` (at most ``default``)."""
    if tick is None:
        return default
    return max(0.0, min(default, (tick - timezone.now()) / timedelta(seconds=1)))
