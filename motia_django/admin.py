"""Stream items in the Django admin: browse by stream and group, edit the JSON data against the stream's schema.

An edit saves through ``StreamItem.save()``, so it gets the next timestamp and is broadcast after commit like
any other write. An edit that does not match the schema is a form error on ``data`` and nothing is saved.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from motia_django.exceptions import StreamValidationError
from motia_django.models import StreamItem
from motia_django.registry import registry


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
from motia_django import admin_events  # noqa: E402,F401 - events and flow state (steps)
