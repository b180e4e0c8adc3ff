from __future__ import annotations

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class MotiaConfig(AppConfig):
    name = "motia_django"
    verbose_name = _("Motia streams")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from motia_django import checks  # noqa: F401 - registers the system checks
        from motia_django.changes import model_deleted, model_saved
        from motia_django.models import StreamItem
        from motia_django.registry import registry

        registry.load()
        post_save.connect(_on_save, sender=StreamItem, dispatch_uid="motia_streamitem_saved")
        post_delete.connect(_on_delete, sender=StreamItem, dispatch_uid="motia_streamitem_deleted")
        setting_changed.connect(_on_setting_changed, dispatch_uid="motia_registry_reload")
        from motia_django import broadcast

        broadcast.connect()  # committed changes -> channel layer -> WebSocket consumers
        from motia_django import steps, worker

        steps.step_registry.load()  # *_step.py modules (API and event steps)
        worker.autostart()  # events: in `runworker motia-events`, or in-process with the in-memory layer
        del model_deleted, model_saved


def _on_save(sender: object, instance: object, created: bool, using: str, **kwargs: object) -> None:
    from motia_django.changes import model_saved

    model_saved(instance, created, using)  # type: ignore[arg-type]


def _on_delete(sender: object, instance: object, using: str, **kwargs: object) -> None:
    from motia_django.changes import model_deleted

    model_deleted(instance, using)  # type: ignore[arg-type]


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting in ("STREAMS", "MOTIA", "BASE_DIR"):
        from motia_django.registry import registry

        registry.load()
