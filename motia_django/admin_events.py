"""Events, cron schedules and flow state in the Django admin: find dead or failed events with their error, and
run them again; see when each cron step runs next, and run one now.

Imported by ``motia_django.admin``. Events are read-only except through the actions, since a worker may be
changing them at the same moment.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from motia_django.cron_queue import enqueue_run
from motia_django.events import announce
from motia_django.models import CronSchedule, Event, StateEntry


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "topic", "step", "status", "attempts", "trace_id", "available_at", "updated_at")
    list_filter = ("status", "topic", "step")
    search_fields = ("trace_id", "topic", "step", "last_error")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Event._meta.fields]
    actions = ["retry_events"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Run the selected events again"))
    def retry_events(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        finished = queryset.exclude(status=Event.Status.RUNNING)
        with transaction.atomic():
            count = finished.update(status=Event.Status.PENDING, attempts=0, available_at=timezone.now(),
                                    lease_until=None)
            announce()  # workers wake after commit
        self.message_user(request, _("%(count)d event(s) queued again.") % {"count": count}, messages.SUCCESS)


@admin.register(StateEntry)
class StateEntryAdmin(admin.ModelAdmin):
    list_display = ("group", "key", "updated_at")
    search_fields = ("group", "key")
    list_filter = ("created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["created_at", "updated_at"]


@admin.register(CronSchedule)
class CronScheduleAdmin(admin.ModelAdmin):
    """Read-only (runners move ``next_run_at``); the action stores a run now, as a tick would."""

    list_display = ("step", "cron", "next_run_at", "last_run_at")
    search_fields = ("step",)
    readonly_fields = [f.name for f in CronSchedule._meta.fields]
    actions = ["run_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Run the selected cron steps now"))
    def run_now(self, request: HttpRequest, queryset: QuerySet[CronSchedule]) -> None:
        queued, skipped = 0, []
        for schedule in queryset:
            try:
                event = enqueue_run(schedule.step)
            except KeyError:
                skipped.append(schedule.step)
                continue
            if event is None:
                skipped.append(schedule.step)
            else:
                queued += 1
        self.message_user(request, _("%(count)d cron run(s) queued.") % {"count": queued}, messages.SUCCESS)
        if skipped:
            self.message_user(request, _("Not queued (no such cron step, or a run is already waiting): %(steps)s")
                              % {"steps": ", ".join(skipped)}, messages.WARNING)
