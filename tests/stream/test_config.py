"""motia_django.stream.config: ``build_stream`` turns Motia's config dict into a ``Stream``; every mistake is a
``DefinitionError`` with its own check id."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from motia_django.exceptions import DefinitionError
from motia_django.stream.backends.custom import CustomBackend
from motia_django.stream.backends.db import DatabaseBackend
from motia_django.stream.backends.model import ModelBackend
from motia_django.stream.config import STORAGE_TYPES, build_stream
from motia_django.stream.items import MAX_STREAM_NAME_LENGTH
from motia_django.stream.schema import JSONSchema, PydanticSchema
from tests.support.custom_storage import DictStorage

HERE = __name__
ORIGIN = "test_stream.py"


def allow(subscription, auth_context):
    return True


def joined(subscription, auth_context):
    return None


def left(subscription, auth_context):
    return None


def member(subscription, auth_context):
    return {"userId": "u"}


def raises():
    raise RuntimeError("no storage today")


def error(config, name=None) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        build_stream(config, ORIGIN, name)
    assert info.value.hint  # every mistake says what to change
    return info.value


# --- mistakes, by check id -----------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [None, [], "chatMessage", 1])
def test_e002_config_is_not_a_dict(config):
    exc = error(config)
    assert exc.id == "motia_django.E002" and exc.msg == f"config must be a dict, got {type(config).__name__}"


@pytest.mark.parametrize(("config", "name", "words"), [
    ({}, None, "stream has no name"),
    ({"name": ""}, None, "stream has no name"),
    ({"name": "   "}, None, "stream has no name"),
    ({"name": 5}, None, "stream has no name"),
    ({"name": "x" * (MAX_STREAM_NAME_LENGTH + 1)}, None, f"longer than {MAX_STREAM_NAME_LENGTH} characters"),
    ({"name": "other"}, "key", "name 'other' does not match its key 'key'"),
])
def test_e003_the_name(config, name, words):
    exc = error(config, name)
    assert exc.id == "motia_django.E003" and words in exc.msg


@pytest.mark.parametrize(("schema", "words"), [
    ({"type": "nope"}, "schema is not a valid JSON Schema"),
    ("string", "expected a JSON Schema dict or a pydantic model class, got str"),
    (42, "got int"),
])
def test_e005_the_schema(schema, words):
    exc = error({"name": "s", "schema": schema})
    assert exc.id == "motia_django.E005" and exc.msg.startswith("stream 's': schema is ") and words in exc.msg


def test_e005_a_pydantic_instance_is_not_a_schema():
    class Model(BaseModel):
        x: int = 1

    exc = error({"name": "s", "schema": Model()})
    assert exc.id == "motia_django.E005" and "pass the model class" in exc.msg


@pytest.mark.parametrize(("base", "words"), [
    ("default", "baseConfig must be a dict"),
    ({"storageType": "redis"}, "unknown storageType 'redis'"),
    ({"storageType": "custom"}, "custom storage needs a factory"),
    ({"storageType": "custom", "factory": 5}, "custom storage needs a factory"),
    ({"storageType": "custom", "factory": "no.such.factory"}, "factory 'no.such.factory' cannot be imported"),
    ({"storageType": "custom", "factory": f"{HERE}.raises"}, "factory raised RuntimeError('no storage today')"),
    ({"storageType": "custom", "factory": dict}, "factory returned dict, not a motia_django.StateStream"),
])
def test_e006_the_storage(base, words):
    exc = error({"name": "s", "baseConfig": base})
    assert exc.id == "motia_django.E006" and words in exc.msg


@pytest.mark.parametrize(("key", "value", "words"), [
    ("canAccess", 5, "canAccess is not callable"),
    ("onJoin", {"not": "callable"}, "onJoin is not callable"),
    ("on_leave", "no.such.hook", "onLeave 'no.such.hook' cannot be imported"),
    ("can_access", True, "canAccess is not callable"),
])
def test_e007_hooks(key, value, words):
    exc = error({"name": "s", key: value})
    assert exc.id == "motia_django.E007" and words in exc.msg


@pytest.mark.parametrize(("key", "value"), [
    ("syncLimit", 0), ("syncLimit", -1), ("syncLimit", True), ("syncLimit", "10"), ("syncLimit", 1.5),
    ("sync_limit", 0), ("ttl", 0), ("ttl", -0.5), ("ttl", "1"), ("maxItemsPerGroup", 0), ("max_items_per_group", 2.5),
])
def test_e009_numbers_must_be_positive(key, value):
    exc = error({"name": "s", key: value})
    camel = {"sync_limit": "syncLimit", "max_items_per_group": "maxItemsPerGroup"}.get(key, key)
    assert exc.id == "motia_django.E009" and f"{camel} must be a positive" in exc.msg and repr(value) in exc.msg


@pytest.mark.parametrize(("config", "words"), [
    ({"model": "todo.Nope", "group_by": "list_id", "serializer": "example_project.todo.serializers.TodoSerializer"},
     "Nope"),
    ({"model": "not-a-label", "group_by": "list_id"}, "stream 's': "),
    ({"model": "todo.Todo", "group_by": "no_field", "serializer": "example_project.todo.serializers.TodoSerializer"},
     "no_field"),
    ({"model": "todo.Todo", "serializer": "example_project.todo.serializers.TodoSerializer"}, "group_by names no field"),
    ({"model": "todo.Todo", "group_by": "list_id", "serializer": dict}, "serializer is not a DRF serializer class"),
    ({"model": "todo.Todo", "group_by": "list_id", "serializer": "no.such.Serializer"}, "cannot be imported"),
])
def test_e016_model_backed_streams(config, words):
    exc = error({"name": "s", **config})
    assert exc.id == "motia_django.E016" and words in exc.msg


@pytest.mark.parametrize(("presence", "words"), [
    ("chatMessage", "presence needs the stream it tracks"),
    ({}, "presence needs the stream it tracks"),
    ({"tracks": ""}, "presence needs the stream it tracks"),
    ({"tracks": 5}, "presence needs the stream it tracks"),
    ({"tracks": "chatMessage", "data": 5}, "presence data is not callable"),
    ({"tracks": "chatMessage", "data": "no.such.data"}, "presence data 'no.such.data' cannot be imported"),
])
def test_e018_presence(presence, words):
    exc = error({"name": "s", "presence": presence})
    assert exc.id == "motia_django.E018" and words in exc.msg


def test_presence_ttl_must_be_positive():
    assert error({"name": "s", "presence": {"tracks": "chatMessage", "ttl": 0}}).id == "motia_django.E009"


@pytest.mark.parametrize("config", [
    {"baseConfig": {"storageType": "custom", "factory": "tests.support.custom_storage.DictStorage"}, "ttl": 60},
    {"baseConfig": {"storageType": "custom", "factory": DictStorage}, "maxItemsPerGroup": 10},
    {"model": "todo.Todo", "group_by": "list_id", "serializer": "example_project.todo.serializers.TodoSerializer",
     "ttl": 60},
])
def test_e019_retention_is_for_the_default_storage_only(config):
    exc = error({"name": "s", **config})
    assert exc.id == "motia_django.E019" and "apply to the default storage only" in exc.msg


# --- good configs --------------------------------------------------------------------------------------------


def test_a_minimal_config_is_the_default_storage_with_the_settings_sync_limit(settings):
    settings.MOTIA = {"SYNC_LIMIT": 123}
    stream = build_stream({"name": "s"}, ORIGIN)
    assert stream.name == "s" and stream.origin == ORIGIN and stream.config == {"name": "s"}
    assert isinstance(stream.backend, DatabaseBackend)
    assert stream.sync_limit == 123
    assert (stream.can_access, stream.on_join, stream.on_leave, stream.ttl, stream.max_items, stream.presence) == (
        None, None, None, None, None, None)
    assert stream.validate({"anything": 1}) == {"anything": 1}  # no schema: any object


def test_the_name_may_come_from_the_key():
    assert build_stream({"schema": {"type": "object"}}, ORIGIN, "fromKey").name == "fromKey"
    assert build_stream({"name": "same"}, ORIGIN, "same").name == "same"


def test_sync_limit_given_or_turned_off():
    assert build_stream({"name": "s", "syncLimit": 5}, ORIGIN).sync_limit == 5
    assert build_stream({"name": "s", "sync_limit": 7}, ORIGIN).sync_limit == 7
    assert build_stream({"name": "s", "syncLimit": None}, ORIGIN).sync_limit is None  # every item


def test_snake_case_keys_are_accepted():
    stream = build_stream({"name": "s", "can_access": allow, "on_join": joined, "on_leave": left, "ttl": 1.5,
                           "max_items_per_group": 3}, ORIGIN)
    assert (stream.can_access, stream.on_join, stream.on_leave) == (allow, joined, left)
    assert stream.ttl == 1.5 and stream.max_items == 3


def test_camel_case_wins_over_snake_case():
    assert build_stream({"name": "s", "syncLimit": 2, "sync_limit": 9}, ORIGIN).sync_limit == 2


def test_hooks_by_dotted_path():
    stream = build_stream({"name": "s", "canAccess": f"{HERE}.allow", "onJoin": f"{HERE}.joined",
                           "onLeave": f"{HERE}.left"}, ORIGIN)
    assert (stream.can_access, stream.on_join, stream.on_leave) == (allow, joined, left)


def test_schemas_json_and_pydantic():
    class Message(BaseModel):
        text: str

    assert isinstance(build_stream({"name": "s", "schema": {"type": "object"}}, ORIGIN).schema, JSONSchema)
    assert isinstance(build_stream({"name": "s", "schema": Message}, ORIGIN).schema, PydanticSchema)


def test_custom_storage_by_factory():
    assert STORAGE_TYPES == ("default", "custom")
    for factory in ("tests.support.custom_storage.DictStorage", DictStorage):
        stream = build_stream({"name": "s", "baseConfig": {"storageType": "custom", "factory": factory}}, ORIGIN)
        assert isinstance(stream.backend, CustomBackend)
    explicit = build_stream({"name": "s", "baseConfig": {"storageType": "default"}}, ORIGIN)
    assert isinstance(explicit.backend, DatabaseBackend)


def test_a_model_backed_stream():
    stream = build_stream({"name": "todosCopy", "model": "todo.Todo", "groupBy": "list_id",
                           "serializer": "example_project.todo.serializers.TodoSerializer"}, ORIGIN)
    assert isinstance(stream.backend, ModelBackend)
    assert stream.schema.describe()["properties"].keys() >= {"id", "list_id", "title", "done"}


def test_presence_with_defaults_and_a_dotted_data_hook():
    stream = build_stream({"name": "p", "presence": {"tracks": "chatMessage"}}, ORIGIN)
    assert (stream.presence.tracks, stream.presence.ttl, stream.presence.data) == ("chatMessage", 30.0, None)
    stream = build_stream({"name": "p", "presence": {"tracks": "chatMessage", "ttl": 5, "data": f"{HERE}.member"}},
                          ORIGIN)
    assert (stream.presence.ttl, stream.presence.data) == (5.0, member)
