"""Cron expressions of cron steps: checking them, and the next tick after a moment.

Motia schedules cron steps with node-cron, so the same expressions are accepted: five fields (minute, hour,
day of month, month, day of week), or six with seconds in front (``*/10 * * * * *``), or a macro (``@hourly``,
``@daily``, ...). They are read in the project's ``TIME_ZONE`` (node-cron uses the server's local time) with
``croniter``, a maintained parser that handles daylight saving time. A bad expression is a system check error
naming the file (``motia_django.E112``), raised here as ``ValueError`` and turned into that by the step registry.
"""

from __future__ import annotations

from datetime import datetime

from croniter import CroniterError, croniter
from django.utils import timezone

__all__ = ["MACROS", "check_expression", "count_ticks", "next_tick"]

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
