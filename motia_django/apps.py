"""Wiring, in one place: ``ready()`` loads the registries and connects every receiver (as Django's contrib apps
do), so that no lower module imports a higher one to reach it."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.utils.autoreload import autoreload_started, file_changed
from django.utils.translation import gettext_lazy as _

#: Settings whose change (``override_settings``) reloads motia_django's settings and then its registries.
RELOAD_ON = ("MOTIA", "STREAMS", "BASE_DIR", "DEBUG")


class MotiaConfig(AppConfig):
    name = "motia_django"
    verbose_name = _("Motia streams")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from motia_django import autoreload, checks  # noqa: F401 - importing checks registers them
        from motia_django.realtime import broadcast
        from motia_django.steps import emit, worker
        from motia_django.steps.registry import step_registry
        from motia_django.stream import receivers
        from motia_django.stream.backends import model
        from motia_django.stream.changes import change_recorded
        from motia_django.stream.registry import registry

        registry.load()  # STREAMS and *_stream.py
        model.connect([(s.name, s.backend) for s in registry])  # model-backed streams' saves
        step_registry.load()  # *_step.py (API and event steps)
        receivers.connect()  # StreamItem.save()/delete(): validated, stamped, published after commit
        broadcast.connect()  # committed changes -> this process's sockets, and other processes
        worker.connect()  # stored events -> a worker wakes (in-process runner, or over the channel layer)
        change_recorded.connect(emit.store_triggered, dispatch_uid="motia_stream_triggers")  # stream triggers
        setting_changed.connect(_on_setting_changed, dispatch_uid="motia_settings_changed")
        autoreload_started.connect(autoreload.watch_steps, dispatch_uid="motia_watch_steps")
        file_changed.connect(autoreload.on_file_changed, dispatch_uid="motia_steps_folder_changed")


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    """Reload in dependency order: the settings, then the streams, then the steps (which may name streams)."""
    if setting not in RELOAD_ON:
        return
    from motia_django.conf import motia_settings
    from motia_django.steps.registry import step_registry
    from motia_django.stream.backends import model
    from motia_django.stream.registry import registry

    motia_settings.reload()
    if setting == "DEBUG":
        return
    registry.load()
    model.connect([(s.name, s.backend) for s in registry])
    if setting != "STREAMS" and step_registry.loaded:
        step_registry.load()
