"""The stream registry: the ``STREAMS`` setting and ``*_stream.py`` modules, merged at app start.

``registry.load()`` runs in ``AppConfig.ready()``. A definition that is wrong in any way is left out whole and
its problem kept as a system check error (``registry.errors``), so ``manage.py check`` and ``runserver`` name
the file or setting and say what to change; the rest of the streams still work.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from django.core import checks

from motia_django.conf import motia_settings
from motia_django.exceptions import StreamNotFound
from motia_django.loading import Registry, iter_configs
from motia_django.stream.api import AsyncStream, Stream
from motia_django.stream.config import build_stream

__all__ = ["AsyncStreams", "StreamRegistry", "Streams", "build_stream", "registry", "streams"]


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

    def finish(self, found: dict[str, Stream], errors: list[checks.CheckMessage]) -> None:
        for stream in list(found.values()):
            tracked = stream.presence.tracks if stream.presence else None
            if tracked is not None and (tracked not in found or tracked == stream.name):
                errors.append(checks.Error(
                    f"{stream.origin}: presence stream {stream.name!r} tracks {tracked!r}, which is not another "
                    "registered stream", hint='Set "presence": {"tracks": "<a stream clients join>"}.',
                    id="motia_django.E015"))
                del found[stream.name]

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


class AsyncStreams:
    """``context.streams`` in an async handler: ``streams.chatMessage`` is an ``AsyncStream``, every method a
    coroutine."""

    __slots__ = ()

    def __getitem__(self, name: str) -> AsyncStream:
        return registry.get(name).asynchronous

    def __getattr__(self, name: str) -> AsyncStream:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return registry.get(name).asynchronous
        except StreamNotFound as exc:
            raise AttributeError(str(exc)) from None

    def __contains__(self, name: object) -> bool:
        return name in registry

    def __iter__(self) -> Iterator[str]:
        return iter(registry.names())

    def __len__(self) -> int:
        return len(registry)

    def __repr__(self) -> str:
        return f"<async streams: {', '.join(registry.names())}>"


async_streams = AsyncStreams()
