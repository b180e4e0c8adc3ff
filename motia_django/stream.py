"""The stream API: ``get``, ``set``, ``delete``, ``get_group``/``getGroup``, ``list_groups``, ``update``, ``send``.

Each method is plain in sync code (views, the shell, management commands) and awaitable in async code
(``await context.streams.chatMessage.set(...)`` as in Motia's steps): it returns a coroutine when called in a
thread that runs an event loop. ``aget``, ``aset``, ... are always awaitable. Every write is validated first,
then stored, then published on commit (``motia_django.changes``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

from motia_django.changes import Change, item_change, publish
from motia_django.exceptions import StreamValidationError
from motia_django.models import MAX_KEY_LENGTH, make_item
from motia_django.ops import apply_ops
from motia_django.schema import Schema
from motia_django.storage import Backend, StoredItem, encode, now_ms

__all__ = ["Stream", "validate_key", "validate_write"]

T = TypeVar("T")


def _running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def dual(fn: Callable[..., T]) -> Callable[..., Any]:
    """Make ``fn`` return an awaitable when called from async code, and its result otherwise."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _running_loop():
            return sync_to_async(fn)(*args, **kwargs)
        return fn(*args, **kwargs)

    wrapper.sync = fn  # type: ignore[attr-defined]
    return wrapper


def validate_key(label: str, value: Any, *, stream: str = "") -> str:
    """Group and item ids: non-empty strings of at most ``MAX_KEY_LENGTH`` characters, no NUL."""
    if not isinstance(value, str):
        raise StreamValidationError(f"{label} must be a string, got {type(value).__name__}", stream=stream)
    if not value:
        raise StreamValidationError(f"{label} must not be empty", stream=stream)
    if len(value) > MAX_KEY_LENGTH:
        raise StreamValidationError(f"{label} is longer than {MAX_KEY_LENGTH} characters", stream=stream)
    if "\x00" in value:
        raise StreamValidationError(f"{label} must not contain NUL characters", stream=stream)
    return value


def validate_write(stream_name: str, data: Any) -> dict[str, Any]:
    """Validate ``data`` against the registered stream's schema (the ORM path uses this too)."""
    from motia_django.registry import streams

    return streams[stream_name].validate(data)


def _tag(exc: StreamValidationError, stream: str) -> StreamValidationError:
    if not exc.stream:
        exc.stream = stream
        exc.args = (f"{stream}: {exc.args[0]}",)
    return exc


class Stream:
    """One registered stream. Get it with ``streams["name"]``, ``streams.name`` or ``context.streams.name``."""

    def __init__(
        self,
        name: str,
        schema: Schema,
        backend: Backend,
        *,
        can_access: Callable[..., Any] | None = None,
        origin: str = "",
        config: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.schema = schema
        self.backend = backend
        self.can_access = can_access
        self.origin = origin
        self.config = config or {}

    def __repr__(self) -> str:
        return f"<Stream {self.name!r} from {self.origin}>"

    # --- helpers --------------------------------------------------------------------------------------------

    def validate(self, data: Any) -> dict[str, Any]:
        """Return the data to store, or raise ``StreamValidationError`` naming each bad field."""
        if not isinstance(data, dict):
            raise StreamValidationError(
                f"data must be a JSON object (dict), got {type(data).__name__}", stream=self.name
            )
        try:
            validated = self.schema.validate(data)
        except StreamValidationError as exc:
            raise _tag(exc, self.name) from None
        return validated

    def _keys(self, group_id: Any, id: Any = None, *, item: bool = True) -> None:
        validate_key("group id", group_id, stream=self.name)
        if item:
            validate_key("item id", id, stream=self.name)

    def reference(self, group_id: str, id: str) -> dict[str, Any]:
        return {"type": "state-stream", "streamName": self.name, "groupId": group_id, "id": id}

    item = staticmethod(make_item)

    def _publish(self, kind: str, group_id: str, id: str, stored: StoredItem) -> None:
        publish(item_change(kind, self.name, group_id, id, self.item(id, stored.data), stored.timestamp),
                using=self.backend.db_alias())

    # --- the API (sync bodies; ``dual`` makes them awaitable in async code) ---------------------------------

    @dual
    def get(self, group_id: str, id: str) -> dict[str, Any] | None:
        self._keys(group_id, id)
        stored = self.backend.get(self.name, group_id, id)
        return None if stored is None else self.item(id, stored.data)

    @dual
    def set(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Replace (or create) the item; returns it with ``id`` and the ``__motia`` reference."""
        self._keys(group_id, id)
        data = self.validate(data)
        try:
            encoded = encode(data)
        except (TypeError, ValueError) as exc:
            raise StreamValidationError(f"data is not JSON: {exc}", stream=self.name) from None
        stored = self.backend.set(self.name, group_id, id, data, encoded)
        self._publish("create" if stored.created else "update", group_id, id, stored)
        return {**self.item(id, stored.data), "__motia": self.reference(group_id, id)}

    @dual
    def delete(self, group_id: str, id: str) -> dict[str, Any] | None:
        """Delete the item; returns what was deleted, or None (and broadcasts nothing) if it did not exist."""
        self._keys(group_id, id)
        stored = self.backend.delete(self.name, group_id, id)
        if stored is None:
            return None
        self._publish("delete", group_id, id, stored)
        return self.item(id, stored.data)

    @dual
    def get_group(self, group_id: str) -> list[dict[str, Any]]:
        """The group's items, in creation order."""
        self._keys(group_id, item=False)
        return [self.item(id, stored.data) for id, stored in self.backend.get_group(self.name, group_id)]

    getGroup = get_group

    @dual
    def list_groups(self) -> list[str]:
        return self.backend.list_groups(self.name)

    listGroups = list_groups

    @dual
    def update(self, group_id: str, id: str, ops: Any) -> dict[str, Any]:
        """Apply ``ops`` atomically (see ``motia_django.ops``); a missing item is created from ``{}``."""
        self._keys(group_id, id)

        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            try:
                new = apply_ops(current, ops)
            except StreamValidationError as exc:
                raise _tag(exc, self.name) from None
            return self.validate(new)

        stored = self.backend.update(self.name, group_id, id, change)
        self._publish("create" if stored.created else "update", group_id, id, stored)
        return {**self.item(id, stored.data), "__motia": self.reference(group_id, id)}

    @dual
    def send(self, channel: dict[str, Any], event: dict[str, Any]) -> None:
        """Send an ephemeral event to the group's (or, with ``id``, the item's) subscribers; nothing stored."""
        if not isinstance(channel, dict):
            raise StreamValidationError("channel must be an object with groupId (and optional id)", stream=self.name)
        group_id = channel.get("groupId", channel.get("group_id"))
        self._keys(group_id, item=False)
        assert isinstance(group_id, str)
        id = channel.get("id")
        if id is not None:
            validate_key("channel id", id, stream=self.name)
        if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not event["type"]:
            raise StreamValidationError("event must be an object with a non-empty string type", stream=self.name)
        if "data" not in event:
            raise StreamValidationError("event must have data", stream=self.name)
        try:
            encode(event["data"])
        except (TypeError, ValueError) as exc:
            raise StreamValidationError(f"event data is not JSON: {exc}", stream=self.name) from None
        body = {"type": event["type"], "data": event["data"]}
        publish(Change(self.name, group_id, id, {"type": "event", "event": body}, now_ms()),
                using=self.backend.db_alias())

    # --- explicit async twins -------------------------------------------------------------------------------

    async def aget(self, group_id: str, id: str) -> dict[str, Any] | None:
        return await sync_to_async(self.get.sync)(self, group_id, id)  # type: ignore[attr-defined]

    async def aset(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
        return await sync_to_async(self.set.sync)(self, group_id, id, data)  # type: ignore[attr-defined]

    async def adelete(self, group_id: str, id: str) -> dict[str, Any] | None:
        return await sync_to_async(self.delete.sync)(self, group_id, id)  # type: ignore[attr-defined]

    async def aget_group(self, group_id: str) -> list[dict[str, Any]]:
        return await sync_to_async(self.get_group.sync)(self, group_id)  # type: ignore[attr-defined]

    async def alist_groups(self) -> list[str]:
        return await sync_to_async(self.list_groups.sync)(self)  # type: ignore[attr-defined]

    async def aupdate(self, group_id: str, id: str, ops: Any) -> dict[str, Any]:
        return await sync_to_async(self.update.sync)(self, group_id, id, ops)  # type: ignore[attr-defined]

    async def asend(self, channel: dict[str, Any], event: dict[str, Any]) -> None:
        await sync_to_async(self.send.sync)(self, channel, event)  # type: ignore[attr-defined]
