"""The stream registry: the ``STREAMS`` setting and ``*_stream.py`` modules, merged at app start.

``registry.load()`` runs in ``AppConfig.ready()``. A definition that is wrong in any way is left out whole and
its problem kept as a system check error (``registry.errors``), so ``manage.py check`` and ``runserver`` name
the file or setting and say what to change; the rest of the streams still work.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from django.core import checks
from django.utils.module_loading import import_string

from motia_django.conf import motia_settings
from motia_django.core import MAX_STREAM_NAME_LENGTH
from motia_django.discovery import iter_configs
from motia_django.exceptions import DefinitionError, SchemaDefinitionError, StreamNotFound
from motia_django.registries import Registry
from motia_django.schema import compile_schema
from motia_django.storage import Backend, CustomBackend, DatabaseBackend, StateStream
from motia_django.stream import Stream

__all__ = ["StreamRegistry", "registry", "streams"]

STORAGE_TYPES = ("default", "custom")


def _resolve(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError as exc:
            raise DefinitionError("motia_django.E006", f"{what} {value!r} cannot be imported: {exc}",
                                  "Give a dotted path to a callable, or the callable itself.") from None
    return value


def build_stream(config: Any, origin: str, name: str | None = None) -> Stream:
    """Build one ``Stream`` from a config dict as in Motia (``name``, ``schema``, ``baseConfig``, ``canAccess``)."""
    if not isinstance(config, dict):
        raise DefinitionError("motia_django.E002", f"config must be a dict, got {type(config).__name__}",
                              'Define config = {"name": ..., "schema": ..., "baseConfig": {"storageType": "default"}}.')
    config_name = config.get("name", name)
    if name is not None and config_name != name:
        raise DefinitionError("motia_django.E003", f"name {config_name!r} does not match its key {name!r}",
                              "Remove 'name' from the entry or make it equal to the key.")
    if not isinstance(config_name, str) or not config_name.strip():
        raise DefinitionError("motia_django.E003", "stream has no name",
                              'Add "name": "<streamName>" (the name clients subscribe to).')
    if len(config_name) > MAX_STREAM_NAME_LENGTH:
        raise DefinitionError("motia_django.E003", f"stream name is longer than {MAX_STREAM_NAME_LENGTH} characters",
                              "Use a shorter name.")
    try:
        schema = compile_schema(config.get("schema"))
    except SchemaDefinitionError as exc:
        raise DefinitionError("motia_django.E005", f"stream {config_name!r}: schema is {exc}",
                              "Give a JSON Schema dict (checked against its $schema draft, 2020-12 by default), "
                              "a pydantic model class, or Model.model_json_schema().") from None
    base = config.get("baseConfig", {"storageType": "default"})
    if not isinstance(base, dict):
        raise DefinitionError("motia_django.E006", f"stream {config_name!r}: baseConfig must be a dict",
                              'Use {"storageType": "default"} or {"storageType": "custom", "factory": ...}.')
    storage_type = base.get("storageType", "default")
    backend: Backend
    if storage_type == "default":
        backend = DatabaseBackend()
    elif storage_type == "custom":
        factory = _resolve(base.get("factory"), "factory")
        if not callable(factory):
            raise DefinitionError("motia_django.E006", f"stream {config_name!r}: custom storage needs a factory",
                                  'Add "factory": "path.to.make_storage" returning a StateStream subclass instance.')
        try:
            storage = factory()
        except Exception as exc:
            raise DefinitionError("motia_django.E006", f"stream {config_name!r}: factory raised {exc!r}",
                                  "Fix the factory so it can be called with no arguments.") from None
        if not isinstance(storage, StateStream):
            raise DefinitionError("motia_django.E006",
                                  f"stream {config_name!r}: factory returned {type(storage).__name__}, "
                                  "not a motia_django.StateStream",
                                  "Subclass motia_django.StateStream and implement get, set, delete, get_group.")
        backend = CustomBackend(storage)
    else:
        raise DefinitionError("motia_django.E006", f"stream {config_name!r}: unknown storageType {storage_type!r}",
                              f"Use one of: {', '.join(STORAGE_TYPES)}.")
    can_access = _resolve(config.get("canAccess", config.get("can_access")), "canAccess")
    if can_access is not None and not callable(can_access):
        raise DefinitionError("motia_django.E007", f"stream {config_name!r}: canAccess is not callable",
                              "Give canAccess(subscription, auth_context) -> bool (sync or async).")
    return Stream(config_name, schema, backend, can_access=can_access, origin=origin, config=config)


class StreamRegistry(Registry[Stream]):
    """All registered streams by name, and the problems found while building them."""

    def collect(self, found: dict[str, Stream], errors: list[checks.CheckMessage]) -> None:
        setting = motia_settings.STREAMS
        if not isinstance(setting, dict):
            errors.append(checks.Error("settings.STREAMS must be a dict of name -> definition",
                                       hint='STREAMS = {"chatMessage": {"schema": {...}}}', id="motia_django.E008"))
            setting = {}
        for name, definition in setting.items():
            origin = f"settings.STREAMS[{name!r}]"
            self.add(found, functools.partial(build_stream, definition, origin, name), origin, errors)
        for origin, module in iter_configs(
            "_stream", "stream", errors,
            import_error=("motia_django.E001",
                          "Fix the error above; the streams of this file are not registered until then."),
            no_config=("motia_django.E002", 'Define config = {"name": ..., "schema": ...}.'),
        ):
            self.add(found, functools.partial(build_stream, module.config, origin), origin, errors)

    def duplicate(self, item: Stream, other: Stream) -> checks.CheckMessage:
        return checks.Error(
            f"{item.origin}: stream {item.name!r} is already defined in {other.origin}",
            hint="Stream names must be unique: rename one, or remove the duplicate definition.",
            id="motia_django.E004",
        )

    def not_found(self, name: str) -> Exception:
        return StreamNotFound(name, list(self._items))


registry = StreamRegistry()


class Streams:
    """``streams["chatMessage"]`` or ``streams.chatMessage``: the registered streams (``context.streams`` too)."""

    __slots__ = ()

    def __getitem__(self, name: str) -> Stream:
        return registry.get(name)

    def __getattr__(self, name: str) -> Stream:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return registry.get(name)
        except StreamNotFound as exc:
            raise AttributeError(str(exc)) from None

    def __contains__(self, name: object) -> bool:
        return name in registry

    def __iter__(self) -> Iterator[str]:
        return iter(registry.names())

    def __len__(self) -> int:
        return len(registry)

    def __repr__(self) -> str:
        return f"<streams: {', '.join(registry.names())}>"


streams = Streams()
