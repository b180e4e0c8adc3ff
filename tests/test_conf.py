"""motia_django.conf: defaults, the project's overrides, STEPS_DIRS, imported dotted paths, and reloading."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import override_settings

from motia_django import conf
from motia_django.conf import DEFAULTS, IMPORT_STRINGS, MotiaSettings, motia_settings


def authenticate(token, scope):
    return {"token": token}


@pytest.fixture
def fresh(settings):
    """A settings object of its own (not reloaded by ``setting_changed``), on an empty MOTIA."""
    settings.MOTIA = {}
    return MotiaSettings()


def test_defaults(fresh):
    for name, default in DEFAULTS.items():
        if name != "STEPS_DIRS":
            assert getattr(fresh, name) == default, name


def test_user_settings_override_the_defaults(settings):
    settings.MOTIA = {"SYNC_LIMIT": 5, "DEFAULT_ACCESS": "authenticated", "EVENT_MAX_ATTEMPTS": 2}
    conf = MotiaSettings()
    assert (conf.SYNC_LIMIT, conf.DEFAULT_ACCESS, conf.EVENT_MAX_ATTEMPTS) == (5, "authenticated", 2)
    assert DEFAULTS["MAX_SUBSCRIPTIONS"] == conf.MAX_SUBSCRIPTIONS


def test_missing_or_empty_motia_means_defaults(settings):
    del settings.MOTIA
    assert DEFAULTS["SYNC_LIMIT"] == MotiaSettings().SYNC_LIMIT
    settings.MOTIA = None
    assert DEFAULTS["SYNC_LIMIT"] == MotiaSettings().SYNC_LIMIT


def test_motia_must_be_a_dict(monkeypatch):
    # Not through Django's settings: the shared object's reload on setting_changed would raise first.
    monkeypatch.setattr(conf, "settings", SimpleNamespace(MOTIA=[("SYNC_LIMIT", 5)]))
    with pytest.raises(TypeError, match="settings.MOTIA must be a dict"):
        MotiaSettings().SYNC_LIMIT  # noqa: B018


def test_streams_is_the_top_level_setting(settings):
    settings.STREAMS = {"confStream": {"schema": None}}
    assert MotiaSettings().STREAMS == {"confStream": {"schema": None}}
    settings.STREAMS = None
    assert MotiaSettings().STREAMS == {}


def test_steps_dirs_default_to_base_dir_steps(fresh, settings):
    assert [Path(settings.BASE_DIR) / "steps"] == fresh.STEPS_DIRS


def test_steps_dirs_without_base_dir_is_empty(fresh, settings):
    del settings.BASE_DIR
    assert fresh.STEPS_DIRS == []


@pytest.mark.parametrize(("value", "expected"), [
    ("/srv/steps", [Path("/srv/steps")]),
    (Path("/srv/steps"), [Path("/srv/steps")]),
    (["/a", Path("/b")], [Path("/a"), Path("/b")]),
    (("/a",), [Path("/a")]),
    ([], []),
])
def test_steps_dirs_are_normalised_to_a_list_of_paths(settings, value, expected):
    settings.MOTIA = {"STEPS_DIRS": value}
    dirs = MotiaSettings().STEPS_DIRS
    assert dirs == expected and all(isinstance(d, Path) for d in dirs)


def test_import_strings_are_imported(settings):
    assert "AUTHENTICATE" in IMPORT_STRINGS
    settings.MOTIA = {"AUTHENTICATE": f"{__name__}.authenticate"}
    assert MotiaSettings().AUTHENTICATE is authenticate
    settings.MOTIA = {"AUTHENTICATE": authenticate}
    assert MotiaSettings().AUTHENTICATE is authenticate
    settings.MOTIA = {}
    assert MotiaSettings().AUTHENTICATE is None


def test_an_import_string_that_cannot_be_imported_raises(settings):
    settings.MOTIA = {"AUTHENTICATE": "no.such.module.hook"}
    with pytest.raises(ImportError):
        MotiaSettings().AUTHENTICATE  # noqa: B018


def test_unknown_and_private_attributes_raise_attribute_error(fresh, settings):
    with pytest.raises(AttributeError, match="Invalid motia_django setting: 'NOPE'"):
        fresh.NOPE  # noqa: B018
    settings.MOTIA = {"NOPE": 1}  # a key the project sets is still not a setting
    with pytest.raises(AttributeError):
        MotiaSettings().NOPE  # noqa: B018
    with pytest.raises(AttributeError):
        fresh._private  # noqa: B018
    assert not hasattr(fresh, "__wrapped__")


def test_values_are_cached_until_reload(settings):
    settings.MOTIA = {"SYNC_LIMIT": 1}
    conf = MotiaSettings()  # not connected to setting_changed
    assert conf.SYNC_LIMIT == 1
    settings.MOTIA = {"SYNC_LIMIT": 2}
    assert conf.SYNC_LIMIT == 1
    conf.reload()
    assert conf.SYNC_LIMIT == 2


def test_a_cached_value_is_a_plain_attribute(settings, monkeypatch):
    settings.MOTIA = {"SYNC_LIMIT": 1}
    conf = MotiaSettings()
    assert conf.SYNC_LIMIT == 1
    monkeypatch.setattr(MotiaSettings, "__getattr__", lambda self, attr: pytest.fail("__getattr__ ran"))
    assert conf.SYNC_LIMIT == 1  # read from the instance: the hot paths pay no __getattr__
    monkeypatch.undo()
    conf.reload()
    assert vars(conf) == {}


def test_the_shared_object_reloads_on_override_settings():
    assert DEFAULTS["SYNC_LIMIT"] == motia_settings.SYNC_LIMIT
    with override_settings(MOTIA={"SYNC_LIMIT": 3}, STREAMS={"confStream": {}}):
        assert motia_settings.SYNC_LIMIT == 3
        assert motia_settings.STREAMS == {"confStream": {}}
    assert DEFAULTS["SYNC_LIMIT"] == motia_settings.SYNC_LIMIT
    assert "confStream" not in motia_settings.STREAMS
