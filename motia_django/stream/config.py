"""Stream definitions: a config dict as Motia writes it, checked and turned into a ``Stream``.

Keys: ``name``, ``schema``, ``baseConfig`` (``storageType`` ``"default"`` or ``"custom"`` with a ``factory``),
``canAccess``, ``onJoin`` / ``onLeave`` (lifecycle hooks), ``syncLimit`` (newest items a group join syncs),
``ttl`` and ``maxItemsPerGroup`` (retention), ``presence`` (a presence stream), or ``model``, ``group_by`` and
``serializer`` for a stream backed by a Django model (``motia_django.stream.backends.model``). Hooks may be
callables or dotted paths; snake_case spellings (``can_access``, ``on_join``...) are accepted too. Every mistake is a
``DefinitionError`` that the registry reports as a system check naming the file or setting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.utils.module_loading import import_string

from motia_django.conf import motia_settings
from motia_django.exceptions import DefinitionError, SchemaDefinitionError
from motia_django.stream.api import Presence, Stream
from motia_django.stream.backends.base import Backend
from motia_django.stream.backends.custom import CustomBackend, StateStream
from motia_django.stream.backends.db import DatabaseBackend
from motia_django.stream.backends.model import ModelBackend, SerializerSchema
from motia_django.stream.items import MAX_STREAM_NAME_LENGTH
from motia_django.stream.schema import Schema, compile_schema

__all__ = ["STORAGE_TYPES", "build_stream"]

STORAGE_TYPES = ("default", "custom")


def _resolve(value: Any, what: str, check_id: str) -> Any:
    """``value``, or the object its dotted path names; a path that cannot be imported is ``check_id``."""
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError as exc:
            raise DefinitionError(check_id, f"{what} {value!r} cannot be imported: {exc}",
                                  "Give a dotted path to a callable, or the callable itself.") from None
    return value


def _option(config: dict[str, Any], camel: str) -> Any:
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return config.get(camel, config.get(snake))


def _hook(config: dict[str, Any], key: str, name: str, signature: str) -> Callable[..., Any] | None:
    hook = _resolve(_option(config, key), key, "motia_django.E007")
    if hook is not None and not callable(hook):
        raise DefinitionError("motia_django.E007", f"stream {name!r}: {key} is not callable",
                              f"Give {key}({signature}) (sync or async), or a dotted path to it.")
    return hook


def _positive(config: dict[str, Any], key: str, name: str, *, number: bool = False) -> Any:
    value = _option(config, key)
    kinds = (int, float) if number else (int,)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds) or value <= 0):
        raise DefinitionError("motia_django.E009", f"stream {name!r}: {key} must be a positive "
                              f"{'number' if number else 'integer'}, got {value!r}",
                              f"Remove {key} or give it a value above 0.")
    return value


def _presence(config: dict[str, Any], name: str) -> Presence | None:
    value = config.get("presence")
    if value is None:
        return None
    hint = 'Write "presence": {"tracks": "<streamName>", "ttl": 30} (ttl in seconds; "data" optional).'
    if not isinstance(value, dict) or not isinstance(value.get("tracks"), str) or not value["tracks"]:
        raise DefinitionError("motia_django.E018", f"stream {name!r}: presence needs the stream it tracks", hint)
    ttl = _positive(value, "ttl", name, number=True) or 30
    data = _resolve(value.get("data"), "presence data", "motia_django.E018")
    if data is not None and not callable(data):
        raise DefinitionError("motia_django.E018", f"stream {name!r}: presence data is not callable", hint)
    return Presence(tracks=value["tracks"], ttl=float(ttl), data=data)


def _backend(base: Any, name: str) -> Backend:
    if not isinstance(base, dict):
        raise DefinitionError("motia_django.E006", f"stream {name!r}: baseConfig must be a dict",
                              'Use {"storageType": "default"} or {"storageType": "custom", "factory": ...}.')
    storage_type = base.get("storageType", "default")
    if storage_type == "default":
        return DatabaseBackend()
    if storage_type != "custom":
        raise DefinitionError("motia_django.E006", f"stream {name!r}: unknown storageType {storage_type!r}",
                              f"Use one of: {', '.join(STORAGE_TYPES)}.")
    factory = _resolve(base.get("factory"), "factory", "motia_django.E006")
    if not callable(factory):
        raise DefinitionError("motia_django.E006", f"stream {name!r}: custom storage needs a factory",
                              'Add "factory": "path.to.make_storage" returning a StateStream subclass instance.')
    try:
        storage = factory()
    except Exception as exc:
        raise DefinitionError("motia_django.E006", f"stream {name!r}: factory raised {exc!r}",
                              "Fix the factory so it can be called with no arguments.") from None
    if not isinstance(storage, StateStream):
        raise DefinitionError("motia_django.E006",
                              f"stream {name!r}: factory returned {type(storage).__name__}, not a "
                              "motia_django.StateStream",
                              "Subclass motia_django.StateStream and implement get, set, delete, get_group.")
    return CustomBackend(storage)


def _model_backend(config: dict[str, Any], name: str) -> tuple[ModelBackend, Schema]:
    from rest_framework.serializers import BaseSerializer

    hint = ('Write "model": "app_label.Model", "group_by": "<field>", "serializer": "path.to.ModelSerializer" '
            "(the item id is the primary key).")
    try:
        model = apps.get_model(config["model"])
        group_by = _option(config, "groupBy")
        if not isinstance(group_by, str):
            raise LookupError("group_by names no field")
        model._meta.get_field(group_by)
    except (LookupError, ValueError, TypeError, FieldDoesNotExist) as exc:
        raise DefinitionError("motia_django.E016", f"stream {name!r}: {exc}", hint) from None
    serializer = _resolve(config.get("serializer"), "serializer", "motia_django.E016")
    if not (isinstance(serializer, type) and issubclass(serializer, BaseSerializer)):
        raise DefinitionError("motia_django.E016", f"stream {name!r}: serializer is not a DRF serializer class",
                              hint)
    return ModelBackend(model, group_by, serializer), SerializerSchema(serializer)


def _name(config: dict[str, Any], key: str | None) -> str:
    name = config.get("name", key)
    if key is not None and name != key:
        raise DefinitionError("motia_django.E003", f"name {name!r} does not match its key {key!r}",
                              "Remove 'name' from the entry or make it equal to the key.")
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError("motia_django.E003", "stream has no name",
                              'Add "name": "<streamName>" (the name clients subscribe to).')
    if len(name) > MAX_STREAM_NAME_LENGTH:
        raise DefinitionError("motia_django.E003", f"stream name is longer than {MAX_STREAM_NAME_LENGTH} characters",
                              "Use a shorter name.")
    return name


def build_stream(config: Any, origin: str, name: str | None = None) -> Stream:
    """Build one ``Stream`` from a config dict as in Motia (see the module docstring)."""
    if not isinstance(config, dict):
        raise DefinitionError("motia_django.E002", f"config must be a dict, got {type(config).__name__}",
                              'Define config = {"name": ..., "schema": ..., "baseConfig": {"storageType": "default"}}.')
    stream_name = _name(config, name)
    try:
        schema = compile_schema(config.get("schema"))
    except SchemaDefinitionError as exc:
        raise DefinitionError("motia_django.E005", f"stream {stream_name!r}: schema is {exc}",
                              "Give a JSON Schema dict (checked against its $schema draft, 2020-12 by default), "
                              "a pydantic model class, or Model.model_json_schema().") from None
    backend: Backend
    if "model" in config:
        backend, described = _model_backend(config, stream_name)
        schema = schema if "schema" in config else described
    else:
        backend = _backend(config.get("baseConfig", {"storageType": "default"}), stream_name)
    sync_limit = _positive(config, "syncLimit", stream_name)
    if sync_limit is None and "syncLimit" not in config and "sync_limit" not in config:
        sync_limit = motia_settings.SYNC_LIMIT
    ttl = _positive(config, "ttl", stream_name, number=True)
    max_items = _positive(config, "maxItemsPerGroup", stream_name)
    if (ttl is not None or max_items is not None) and not isinstance(backend, DatabaseBackend):
        raise DefinitionError("motia_django.E019", f"stream {stream_name!r}: ttl and maxItemsPerGroup apply to the "
                              "default storage only", "Remove them, or expire items in the storage (or model) itself.")
    return Stream(
        stream_name, schema, backend, origin=origin, config=config, sync_limit=sync_limit,
        can_access=_hook(config, "canAccess", stream_name, "subscription, auth_context) -> bool"),
        on_join=_hook(config, "onJoin", stream_name, "subscription, auth_context) -> bool | None"),
        on_leave=_hook(config, "onLeave", stream_name, "subscription, auth_context"),
        ttl=ttl,
        max_items=max_items,
        presence=_presence(config, stream_name),
    )
