"""What the metrics endpoint exposes: the recorded metrics (this process's, or every process's in multiprocess
mode) and the event queue, counted from the ``Event`` table at scrape time.

The event counts are computed when scraped, not recorded as events move: the table is the truth whichever
process or worker changed it, and one ``GROUP BY status`` over the unfinished statuses (served by the
``(status, available_at)`` index) costs the same however many processes there are. ``done`` events are not
counted: they are history, and counting them would scan the whole table.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator

from django.db.models import Count

from motia_django.compat import missing_extra
from motia_django.metrics import multiprocess_dir

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Metric
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
except ImportError as exc:
    raise missing_extra("motia_django.metrics.collectors", "metrics") from exc
from motia_django.models import Event

__all__ = ["EVENT_STATUSES", "EventCollector", "prune_dead_processes", "scrape_registry"]

logger = logging.getLogger("motia_django.metrics")

#: The statuses counted by ``motia_events`` (every status but ``done``).
EVENT_STATUSES: tuple[str, ...] = tuple(
    status.value for status in (Event.Status.PENDING, Event.Status.RUNNING, Event.Status.FAILED, Event.Status.DEAD)
)

_EVENTS_HELP = "Events by status, counted at scrape time (pending: waiting or due for a retry; dead: gave up)."


class EventCollector:
    """``motia_events{status}``: one ``GROUP BY status`` query per scrape. Register it on your own registry to
    expose it elsewhere; ``describe`` touches no database, so registering it runs no query."""

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily("motia_events", _EVENTS_HELP, labels=["status"])]

    def collect(self) -> Iterator[Metric]:
        counts = dict.fromkeys(EVENT_STATUSES, 0)
        try:
            rows = (Event.objects.filter(status__in=EVENT_STATUSES).order_by()  # no ORDER BY id in the GROUP BY
                    .values_list("status").annotate(n=Count("*")))
            counts.update((status, n) for status, n in rows)
        except Exception:  # the other metrics are still worth a scrape
            logger.warning("Could not count the events for the metrics endpoint", exc_info=True)
            return
        family = GaugeMetricFamily("motia_events", _EVENTS_HELP, labels=["status"])
        for status in EVENT_STATUSES:
            family.add_metric([status], counts[status])
        yield family


class _Default:
    """This process's default registry (motia_django's metrics, and whatever else the project records there)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


_single = CollectorRegistry()
_single.register(_Default())
_single.register(EventCollector())


def scrape_registry() -> CollectorRegistry:
    """What the endpoint exposes: every process's metrics from ``PROMETHEUS_MULTIPROC_DIR`` (this process's
    default registry otherwise), plus the event counts."""
    path = multiprocess_dir()
    if path is None:
        return _single
    prune_dead_processes(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)
    registry.register(EventCollector())
    return registry


_LIVE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def prune_dead_processes(path: str) -> None:
    """Drop the live gauges of processes that are gone without saying so (killed, or exited through
    ``os._exit``): their sockets closed with them. Processes that exit normally drop their own at exit."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    pids = {int(match.group(1)) for match in map(_LIVE_FILE.match, names) if match}
    for pid in pids - {os.getpid()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)
        except OSError:  # exists, but is another user's
            continue
