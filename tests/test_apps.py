"""motia_django.apps: ``ready()`` connects every receiver once, and setting changes reload in dependency order."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save, pre_save
from django.test import override_settings
from django.utils.autoreload import autoreload_started, file_changed

from motia_django import apps as motia_apps
from motia_django.conf import motia_settings
from motia_django.models import StreamItem
from motia_django.steps.event_queue import events_stored
from motia_django.steps.registry import step_registry
from motia_django.stream.backends import model
from motia_django.stream.changes import change_recorded, stream_changed
from motia_django.stream.registry import registry

SIGNALS = {
    "setting_changed": setting_changed, "autoreload_started": autoreload_started, "file_changed": file_changed,
    "change_recorded": change_recorded, "stream_changed": stream_changed, "events_stored": events_stored,
    "pre_save": pre_save, "post_save": post_save, "post_delete": post_delete,
}


def uids(signal) -> list:
    """The lookup keys' first parts (the dispatch uids) of a signal's receivers."""
    return [lookup[0] for lookup, *_ in signal.receivers]


def counts() -> dict[str, int]:
    return {name: len(signal.receivers) for name, signal in SIGNALS.items()}


def test_ready_connected_every_receiver():
    assert "motia_settings_changed" in uids(setting_changed)
    assert "motia_watch_steps" in uids(autoreload_started)
    assert "motia_steps_folder_changed" in uids(file_changed)
    assert "motia_stream_triggers" in uids(change_recorded)
    assert "motia_wake_workers" in uids(events_stored)
    assert stream_changed.has_listeners()  # the broadcaster
    for signal, uid in ((pre_save, "motia_streamitem_stamp"), (post_save, "motia_streamitem_saved"),
                        (post_delete, "motia_streamitem_deleted")):
        assert uid in uids(signal) and signal.has_listeners(StreamItem)


def test_ready_again_connects_nothing_twice():
    before = counts()
    apps.get_app_config("motia_django").ready()
    assert counts() == before
    assert uids(setting_changed).count("motia_settings_changed") == 1


@pytest.fixture
def calls(monkeypatch):
    """What ``_on_setting_changed`` reloads, in order (the real reloads replaced by recorders)."""
    seen: list[str] = []
    monkeypatch.setattr(motia_settings, "reload", lambda: seen.append("settings"))
    monkeypatch.setattr(registry, "load", lambda: seen.append("streams"))
    monkeypatch.setattr(model, "connect", lambda pairs: seen.append("models"))
    monkeypatch.setattr(step_registry, "load", lambda: seen.append("steps"))
    monkeypatch.setattr(step_registry, "loaded", True)
    return seen


@pytest.mark.parametrize("setting", ["MOTIA", "BASE_DIR"])
def test_settings_then_streams_then_steps(calls, setting):
    motia_apps._on_setting_changed(setting=setting, value=None, enter=True)
    assert calls == ["settings", "streams", "models", "steps"]


def test_streams_change_does_not_reload_steps(calls):
    motia_apps._on_setting_changed(setting="STREAMS", value={}, enter=True)
    assert calls == ["settings", "streams", "models"]


def test_debug_change_reloads_only_the_settings(calls):
    motia_apps._on_setting_changed(setting="DEBUG", value=True, enter=True)
    assert calls == ["settings"]


def test_steps_not_loaded_yet_are_left_to_load_on_first_use(calls, monkeypatch):
    monkeypatch.setattr(step_registry, "loaded", False)
    motia_apps._on_setting_changed(setting="MOTIA", value={}, enter=True)
    assert calls == ["settings", "streams", "models"]


@pytest.mark.parametrize("setting", ["ROOT_URLCONF", "MIDDLEWARE", "CHANNEL_LAYERS", "motia"])
def test_other_settings_reload_nothing(calls, setting):
    motia_apps._on_setting_changed(setting=setting, value=None, enter=True)
    assert calls == []
    assert setting not in motia_apps.RELOAD_ON


def test_override_settings_reaches_settings_and_registries():
    assert "appsExtra" not in registry
    with override_settings(STREAMS={"appsExtra": {"schema": {"type": "object"}}}, MOTIA={"SYNC_LIMIT": 7}):
        assert motia_settings.SYNC_LIMIT == 7
        assert "appsExtra" in registry
        assert registry.get("appsExtra").sync_limit == 7  # settings reloaded before the streams
    assert motia_settings.SYNC_LIMIT == 1000
    assert "appsExtra" not in registry
