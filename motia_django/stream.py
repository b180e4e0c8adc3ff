"""The stream API: ``get``, ``set``, ``delete``, ``get_group``/``getGroup``, ``list_groups``, ``update``, ``send``.

Each method is plain in sync code and awaitable in async code (``motia_django.bridge.dual``); ``aget``,
``aset``, ... are always awaitable. Every write is validated first, then stored (``motia_django.storage``),
then published on commit (``motia_django.changes``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from motia_django.bridge import asyncify, dual
from motia_django.changes import Change, item_change, publish
from motia_django.core import encode, make_item, now_ms, validate_key
from motia_django.exceptions import StreamValidationError
from motia_django.ops import apply_ops
from motia_django.schema import Schema
from motia_django.storage import Backend, StoredItem

__all__ = ["Stream"]


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
            return self.schema.validate(data)
        except StreamValidationError as exc:
            raise exc.for_stream(self.name) from None

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

    # --- the API: sync bodies, published below as ``dual`` methods and ``a*`` twins --------------------------

    def _get(self, group_id: str, id: str) -> dict[str, Any] | None:
        self._keys(group_id, id)
        stored = self.backend.get(self.name, group_id, id)
        return None if stored is None else self.item(id, stored.data)

    def _set(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
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

    def _delete(self, group_id: str, id: str) -> dict[str, Any] | None:
        """Delete the item; returns what was deleted, or None (and broadcasts nothing) if it did not exist."""
        self._keys(group_id, id)
        stored = self.backend.delete(self.name, group_id, id)
        if stored is None:
            return None
        self._publish("delete", group_id, id, stored)
        return self.item(id, stored.data)

    def _get_group(self, group_id: str) -> list[dict[str, Any]]:
        """The group's items, in creation order."""
        self._keys(group_id, item=False)
        return [self.item(id, stored.data) for id, stored in self.backend.get_group(self.name, group_id)]

    def _list_groups(self) -> list[str]:
        return self.backend.list_groups(self.name)

    def _update(self, group_id: str, id: str, ops: Any) -> dict[str, Any]:
        """Apply ``ops`` atomically (see ``motia_django.ops``); a missing item is created from ``{}``."""
        self._keys(group_id, id)

        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            try:
                new = apply_ops(current, ops)
            except StreamValidationError as exc:
                raise exc.for_stream(self.name) from None
            return self.validate(new)

        stored = self.backend.update(self.name, group_id, id, change)
        self._publish("create" if stored.created else "update", group_id, id, stored)
        return {**self.item(id, stored.data), "__motia": self.reference(group_id, id)}

    def _send(self, channel: dict[str, Any], event: dict[str, Any]) -> None:
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

    get = dual(_get)
    set = dual(_set)
    delete = dual(_delete)
    get_group = getGroup = dual(_get_group)
    list_groups = listGroups = dual(_list_groups)
    update = dual(_update)
    send = dual(_send)

    aget = asyncify(_get)
    aset = asyncify(_set)
    adelete = asyncify(_delete)
    aget_group = asyncify(_get_group)
    alist_groups = asyncify(_list_groups)
    aupdate = asyncify(_update)
    asend = asyncify(_send)
