"""Registry building and its system checks: every misconfiguration names the file or setting and says what to
change; a bad definition is left out whole while the good ones still register."""

from __future__ import annotations

import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from motia_django.checks import check_settings, check_streams
from motia_django.stream.registry import registry, streams


@pytest.fixture
def steps_dir(tmp_path):
    def write(name: str, body: str):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
        return path

    write.path = tmp_path
    return write


def errors_for(steps_path, streams_setting=None):
    with override_settings(MOTIA={"STEPS_DIRS": [steps_path]}, STREAMS=streams_setting or {}):
        return {e.id: e for e in check_streams()}, registry.names()


def test_modules_and_setting_merge(steps_dir):
    steps_dir("a/one_stream.py", 'config = {"name": "one", "schema": {"type": "object"}}\n')
    steps_dir("two_stream.py", '''
        from pydantic import BaseModel
        class M(BaseModel):
            x: int
        config = {"name": "two", "schema": M.model_json_schema(), "baseConfig": {"storageType": "default"}}
    ''')
    errors, names = errors_for(steps_dir.path, {"three": {"schema": None}})
    assert errors == {}
    assert names == ["one", "three", "two"]


@pytest.mark.parametrize("body,code,text", [
    ("raise RuntimeError('boom')", "motia_django.E001", "failed to import: RuntimeError('boom')"),
    ("x = 1", "motia_django.E002", "has no module-level config"),
    ("config = []", "motia_django.E002", "config must be a dict"),
    ("config = {'schema': {}}", "motia_django.E003", "stream has no name"),
    ("config = {'name': 'bad', 'schema': {'type': 'nope'}}", "motia_django.E005", "schema is not a valid JSON Schema"),
    ("config = {'name': 'bad', 'schema': 'str'}", "motia_django.E005", "expected a JSON Schema dict"),
    ("config = {'name': 'bad', 'baseConfig': {'storageType': 'redis'}}", "motia_django.E006", "unknown storageType 'redis'"),
    ("config = {'name': 'bad', 'baseConfig': {'storageType': 'custom'}}", "motia_django.E006", "needs a factory"),
    ("config = {'name': 'bad', 'baseConfig': {'storageType': 'custom', 'factory': 'no.such.path'}}",
     "motia_django.E006", "cannot be imported"),
    ("config = {'name': 'bad', 'baseConfig': {'storageType': 'custom', 'factory': dict}}",
     "motia_django.E006", "not a motia_django.StateStream"),
    ("config = {'name': 'bad', 'canAccess': 5}", "motia_django.E007", "canAccess is not callable"),
])
def test_module_misconfiguration_is_a_check_error_naming_the_file(steps_dir, body, code, text):
    path = steps_dir("broken_stream.py", body + "\n")
    steps_dir("good_stream.py", 'config = {"name": "good"}\n')
    errors, names = errors_for(steps_dir.path)
    assert list(errors) == [code]
    assert str(path) in errors[code].msg and text in errors[code].msg
    assert errors[code].hint
    assert names == ["good"]  # no half-registered stream


def test_duplicate_names_from_two_places(steps_dir):
    path = steps_dir("dup_stream.py", 'config = {"name": "dup"}\n')
    errors, names = errors_for(steps_dir.path, {"dup": {}})
    assert "motia_django.E004" in errors
    msg = errors["motia_django.E004"].msg
    assert str(path) in msg and "settings.STREAMS['dup']" in msg
    assert names == ["dup"]


def test_setting_entry_errors_name_the_setting(steps_dir):
    errors, _ = errors_for(steps_dir.path, {"x": {"name": "y"}, "z": "nope"})
    assert "settings.STREAMS['x']: name 'y' does not match its key 'x'" in errors["motia_django.E003"].msg
    assert "settings.STREAMS['z']" in errors["motia_django.E002"].msg


def test_manage_py_check_reports_and_fails(steps_dir):
    steps_dir("broken_stream.py", "config = {'name': 'b', 'schema': {'type': 'nope'}}\n")
    with override_settings(MOTIA={"STEPS_DIRS": [steps_dir.path]}), pytest.raises(SystemCheckError,
                                                                                  match="motia_django.E005"):
        call_command("check")


def test_registry_is_restored_after_override():
    assert {"chatMessage", "openai"} <= set(streams)


def test_settings_checks():
    with override_settings(MOTIA={"NOPE": 1, "DEFAULT_ACCESS": "maybe", "MAX_FRAME_BYTES": 0,
                                  "AUTHENTICATE": "no.such.hook"}):
        ids = sorted(e.id for e in check_settings())
    assert ids == ["motia_django.E010", "motia_django.E011", "motia_django.E012", "motia_django.E013"]
    with override_settings(MOTIA={"STEPS_DIRS": ["/no/such/dir"]}):
        assert [e.id for e in check_settings()] == ["motia_django.W001"]


def test_small_channel_layer_capacity_is_a_warning():
    small = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
    with override_settings(CHANNEL_LAYERS=small):
        warnings = [e for e in check_settings() if e.id == "motia_django.W020"]
    assert len(warnings) == 1 and "capacity 100" in warnings[0].msg
    deep = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"capacity": 10_000}}}
    pubsub = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}
    in_memory = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}  # carries no changes
    for layers in (deep, pubsub, in_memory):
        with override_settings(CHANNEL_LAYERS=layers):
            assert not [e for e in check_settings() if e.id == "motia_django.W020"]


def test_a_server_database_without_health_checks_is_a_warning(settings):
    from django.db import connections

    config = connections.settings["default"]
    original = config.get("CONN_HEALTH_CHECKS")
    try:
        config["CONN_HEALTH_CHECKS"] = False
        found = [e for e in check_settings() if e.id == "motia_django.W021"]
        if config["ENGINE"] == "django.db.backends.sqlite3":  # one process's file: nothing to drop it
            assert found == []
        else:
            assert len(found) == 1 and "DATABASES['default']" in found[0].msg
        config["CONN_HEALTH_CHECKS"] = True
        assert not [e for e in check_settings() if e.id == "motia_django.W021"]
    finally:
        config["CONN_HEALTH_CHECKS"] = original
