"""motia_django in the Django admin: stream items, events, cron schedules and flow state.

- Stream items: browse by stream and group, edit the JSON data against the stream's schema. An edit saves through
  ``StreamItem.save()``, so it gets the next timestamp and is broadcast after commit like any other write; an
  edit that does not match the schema is a form error on ``data`` and nothing is saved.
- Events: find dead or failed events with their error, and run them again. Read-only except through the
  action, since a worker may be changing them at the same moment.
- Cron schedules: when each cron step runs next, and an action that runs one now.
- Flow state (``context.state``): browse and edit.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from motia_django.exceptions import StreamValidationError
from motia_django.models import CronSchedule, Event, StateEntry, StreamItem
from motia_django.steps.cron import enqueue_run
from motia_django.steps.event_queue import announce
from motia_django.steps.registry import step_registry
from motia_django.stream.registry import registry


class PrettyJSONField(forms.JSONField):
    """Shows JSON indented, so a nested item is readable and editable."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, cls=self.encoder)


class StreamItemForm(forms.ModelForm):
    stream = forms.ChoiceField(label=_("stream"))
    data = PrettyJSONField(  # type: ignore[assignment]
        label=_("data"),
        widget=forms.Textarea(attrs={"rows": 16, "cols": 90, "style": "font-family: monospace"}),
    )

    class Meta:
        model = StreamItem
        fields = ["stream", "group_id", "item_id", "data"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = registry.names()
        current = self.instance.stream if self.instance.pk else None
        if current and current not in names:
            names.append(current)
        stream_field = self.fields["stream"]
        assert isinstance(stream_field, forms.ChoiceField)
        stream_field.choices = [(n, n) for n in names]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        stream, data = cleaned.get("stream"), cleaned.get("data")
        if stream and "data" in cleaned:
            try:
                cleaned["data"] = registry.get(stream).validate(data)
            except StreamValidationError as exc:
                self.add_error("data", [f"{e['path'] or '(item)'}: {e['message']}" for e in exc.errors])
            except KeyError as exc:
                self.add_error("stream", str(exc))
        for field in ("group_id", "item_id"):
            value = cleaned.get(field)
            if isinstance(value, str) and "\x00" in value:
                self.add_error(field, _("must not contain NUL characters"))
        return cleaned


@admin.register(StreamItem)
class StreamItemAdmin(admin.ModelAdmin):
    form = StreamItemForm
    list_display = ("item_id", "group_id", "stream", "updated_at", "timestamp", "version")
    list_filter = ("stream",)
    search_fields = ("group_id", "item_id")
    ordering = ("stream", "group_id", "created_at", "id")
    readonly_fields = ("version", "timestamp", "created_at", "updated_at", "as_client_sees_it")
    fieldsets = (
        (None, {"fields": ("stream", "group_id", "item_id", "data")}),
        (_("Protocol"), {"fields": ("as_client_sees_it", "timestamp", "version", "created_at", "updated_at")}),
    )
    list_per_page = 50

    @admin.display(description=_("as subscribers see it"))
    def as_client_sees_it(self, obj: StreamItem) -> str:
        if obj.pk is None:
            return "-"
        text = json.dumps(obj.as_item(), ensure_ascii=False, indent=2)
        return format_html('<pre style="margin:0">{}</pre>', text)


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

    @admin.action(description=_("Run the selected events again"), permissions=["change"])
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

    @admin.action(description=_("Run the selected cron steps now"), permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[CronSchedule]) -> None:
        queued, skipped = 0, []
        for schedule in queryset:
            try:
                event = enqueue_run(step_registry.cron_step(schedule.step))
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
