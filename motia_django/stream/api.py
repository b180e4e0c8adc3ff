"""The stream API: ``get``, ``set``, ``delete``, ``get_group``/``getGroup``, ``list_groups``/``listGroups``,
``update``, ``send``, ``clear``.

Each method of ``Stream`` is plain in sync code and awaitable in async code (``motia_django.bridge.dual``), and
typed as its sync form; ``aget``, ``aset``, ... are always awaitable, and typed so. ``AsyncStream`` is the same
stream for async code, every method a coroutine (what ``AsyncFlowContext.streams`` hands an async handler).
Every write is validated first, then stored (``motia_django.stream.backends``), then published on commit
(``motia_django.stream.changes``). In async code a write to the database is validated on the loop and queued on
the database's write queue (``motia_django.stream.write_queue``: group commit, pipelining in steps, coalescing
of one item's writes).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import transaction

from motia_django.bridge import asyncify, dual, sync_caller_above, to_thread
from motia_django.conf import motia_settings
from motia_django.encoding import encode
from motia_django.exceptions import StreamValidationError
from motia_django.stream.backends.base import Backend, StoredItem
from motia_django.stream.backends.db import DatabaseBackend
from motia_django.stream.changes import Change, item_change, publish, recorded
from motia_django.stream.items import make_item, now_ms, validate_key
from motia_django.stream.schema import Schema
from motia_django.stream.update_ops import apply_ops
from motia_django.stream.write_queue import Write, submit
from motia_django.tracing import traced_write

__all__ = ["AsyncStream", "Item", "Presence", "Stream"]

#: An item as clients see it: its data with ``id``.
Item = dict[str, Any]


@dataclass(frozen=True)
class Presence:
    """A presence stream's setting: which stream's joins make a member present, and for how long a dead
    server's members stay (``ttl`` seconds); ``data(subscription, auth_context)`` builds a member's item."""

    tracks: str
    ttl: float = 30.0
    data: Callable[..., Any] | None = None


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
        sync_limit: int | None = None,
        on_join: Callable[..., Any] | None = None,
        on_leave: Callable[..., Any] | None = None,
        ttl: float | None = None,
        max_items: int | None = None,
        presence: Presence | None = None,
    ) -> None:
        self.name = name
        self.schema = schema
        self.backend = backend
        self.can_access = can_access
        self.origin = origin
        self.config = config or {}
        self.sync_limit = sync_limit  # a group join's sync holds at most this many newest items
        self.on_join, self.on_leave = on_join, on_leave  # lifecycle hooks of subscriptions
        self.ttl, self.max_items = ttl, max_items  # retention: seconds since an item's last write; newest N kept
        self.presence = presence

    def __repr__(self) -> str:
        return f"<Stream {self.name!r} from {self.origin}>"

    # --- helpers --------------------------------------------------------------------------------------------

    def validate(self, data: Any) -> dict[str, Any]:
        """Return the data to store, or raise ``StreamValidationError`` naming each bad field."""
        return self.checked(data)[0]

    def checked(self, data: Any) -> tuple[dict[str, Any], str]:
        """The data to store and its JSON: it matches the schema and keeps the JSON rule
        (``motia_django.encoding``), in at most ``MAX_ITEM_BYTES``; else ``StreamValidationError`` naming each bad
        field."""
        if not isinstance(data, dict):
            raise StreamValidationError(
                f"data must be a JSON object (dict), got {type(data).__name__}", stream=self.name
            )
        try:
            data = self.schema.validate(data)
            return data, encode(data, max_bytes=motia_settings.MAX_ITEM_BYTES)
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
        if self.backend.broadcasts:
            return
        previous = stored.data if kind == "delete" else stored.previous
        publish(item_change(kind, self.name, group_id, id, self.item(id, stored.data), stored.timestamp,
                            stored.seq), using=self.backend.db_alias(), previous=previous)

    def _atomic(self) -> contextlib.AbstractContextManager[Any]:
        """A write and what stream triggers store for it commit together (``motia_django.stream.changes``)."""
        alias = self.backend.db_alias()
        return transaction.atomic(using=alias) if alias and recorded(self.name) else contextlib.nullcontext()

    # --- the API: sync bodies, published below as ``dual`` methods and ``a*`` twins --------------------------

    def _get(self, group_id: str, id: str) -> dict[str, Any] | None:
        self._keys(group_id, id)
        stored = self.backend.get(self.name, group_id, id)
        return None if stored is None else self.item(id, stored.data)

    def _checked(self, group_id: str, id: str, data: Any) -> tuple[dict[str, Any], str]:
        """Validated data to store, and its JSON."""
        self._keys(group_id, id)
        return self.checked(data)

    @traced_write("set")
    def _store(self, group_id: str, id: str, data: dict[str, Any], encoded: str) -> StoredItem:
        with self._atomic():
            stored = self.backend.set(self.name, group_id, id, data, encoded)
            self._publish("create" if stored.created else "update", group_id, id, stored)
        return stored

    def _set(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Replace (or create) the item; returns it with ``id`` and the ``__motia`` reference."""
        data, encoded = self._checked(group_id, id, data)
        stored = self._store(group_id, id, data, encoded)
        return {**self.item(id, stored.data), "__motia": self.reference(group_id, id)}

    @traced_write("delete")
    def _remove(self, group_id: str, id: str) -> StoredItem | None:
        with self._atomic():
            stored = self.backend.delete(self.name, group_id, id)
            if stored is not None:
                self._publish("delete", group_id, id, stored)
        return stored

    @traced_write("set", item=False)
    def _store_many(self, group_id: str, items: list[tuple[str, dict[str, Any], str]]) -> list[StoredItem]:
        """``_store`` for several items of one group (validated, distinct ids): the backend writes them in a
        few statements, and each is published as its own change (presence's batches)."""
        with self._atomic():
            stored = self.backend.set_many(self.name, group_id, items)
            for (id, _data, _encoded), one in zip(items, stored, strict=True):
                self._publish("create" if one.created else "update", group_id, id, one)
        return stored

    @traced_write("delete", item=False)
    def _remove_many(self, group_id: str, ids: list[str]) -> list[tuple[str, StoredItem]]:
        """``_remove`` for several items of one group (distinct ids); returns what was deleted."""
        with self._atomic():
            removed = self.backend.delete_many(self.name, group_id, ids)
            for id, stored in removed:
                self._publish("delete", group_id, id, stored)
        return removed

    @traced_write("expire")
    def expire(self, group_id: str, id: str, unwritten_since: datetime | None = None, *,
               created_by: datetime | None = None) -> bool:
        """Retention's delete: the item goes (and the delete is broadcast) only if it was not written since
        ``unwritten_since`` and was created by ``created_by`` (not deleted and created again since), decided at
        delete time. Default storage only."""
        if not isinstance(self.backend, DatabaseBackend):
            raise TypeError(f"stream {self.name!r}: retention applies to the default storage only")
        with self._atomic():
            stored = self.backend.delete(self.name, group_id, id, unwritten_since=unwritten_since,
                                         created_by=created_by)
            if stored is not None:
                self._publish("delete", group_id, id, stored)
        return stored is not None

    def _delete(self, group_id: str, id: str) -> dict[str, Any] | None:
        """Delete the item; returns what was deleted, or None (and broadcasts nothing) if it did not exist."""
        self._keys(group_id, id)
        stored = self._remove(group_id, id)
        return None if stored is None else self.item(id, stored.data)

    def _get_group(self, group_id: str) -> list[dict[str, Any]]:
        """The group's items, in creation order."""
        self._keys(group_id, item=False)
        return [self.item(id, stored.data) for id, stored in self.backend.get_group(self.name, group_id)]

    def _list_groups(self) -> list[str]:
        return self.backend.list_groups(self.name)

    @traced_write("clear", item=False)
    def _clear(self, group_id: str) -> list[dict[str, Any]]:
        """Delete every item of the group (each broadcast as a delete); returns the deleted items."""
        self._keys(group_id, item=False)
        with self._atomic():
            removed = self.backend.clear(self.name, group_id)
            for id, stored in removed:
                self._publish("delete", group_id, id, stored)
        return [self.item(id, stored.data) for id, stored in removed]

    @traced_write("update")
    def _apply(self, group_id: str, id: str, ops: Any) -> StoredItem:
        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            try:
                new = apply_ops(current, ops)
            except StreamValidationError as exc:
                raise exc.for_stream(self.name) from None
            return self.validate(new)

        with self._atomic():
            stored = self.backend.update(self.name, group_id, id, change)
            self._publish("create" if stored.created else "update", group_id, id, stored)
        return stored

    def _update(self, group_id: str, id: str, ops: Any) -> dict[str, Any]:
        """Apply ``ops`` atomically (see ``motia_django.stream.update_ops``); a missing item is created from ``{}``."""
        self._keys(group_id, id)
        stored = self._apply(group_id, id, ops)
        return {**self.item(id, stored.data), "__motia": self.reference(group_id, id)}

    def _event(self, channel: dict[str, Any], event: dict[str, Any]) -> Change:
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
        body = {"type": event["type"], "data": event["data"]}
        try:
            encode(body, label="event", max_bytes=motia_settings.MAX_ITEM_BYTES)
        except StreamValidationError as exc:
            raise exc.for_stream(self.name) from None
        # An item's event is stamped half a millisecond back: it can never outrank (and so hide from an item
        # subscriber, who drops what is not newer) a write of the same millisecond (docs/protocol.md, "Timestamps").
        timestamp = now_ms() - 0.5 if id is not None else now_ms()
        return Change(self.name, group_id, id, {"type": "event", "event": body}, timestamp)

    def _send(self, channel: dict[str, Any], event: dict[str, Any]) -> None:
        """Send an ephemeral event to the group's (or, with ``id``, the item's) subscribers; nothing stored."""
        publish(self._event(channel, event), using=self.backend.db_alias())

    # --- the async bodies: database writes go through the write queue (motia_django.stream.write_queue) ------

    def _queue(self) -> str | None:
        """The database whose writer takes this stream's writes, or None (a storage that is not pipelined, or a
        sync caller above us, whose thread and transaction the write must join)."""
        return None if sync_caller_above() or not self.backend.pipelined else self.backend.db_alias()

    async def _aset(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
        alias = self._queue()
        if alias is None:
            return await to_thread(self._set)(group_id, id, data)
        data, encoded = self._checked(group_id, id, data)
        write = Write(functools.partial(self._store, group_id, id, data, encoded), (self.name, group_id, id),
                      coalesce=True)
        await submit(alias, write, wait=False)
        return {**self.item(id, data), "__motia": self.reference(group_id, id)}

    async def _aupdate(self, group_id: str, id: str, ops: Any) -> dict[str, Any]:
        alias = self._queue()
        if alias is None:
            return await to_thread(self._update)(group_id, id, ops)
        self._keys(group_id, id)
        write = Write(functools.partial(self._apply, group_id, id, ops), (self.name, group_id, id))
        stored = await submit(alias, write)
        return {**self.item(id, stored.data), "__motia": self.reference(group_id, id)}

    async def _adelete(self, group_id: str, id: str) -> dict[str, Any] | None:
        alias = self._queue()
        if alias is None:
            return await to_thread(self._delete)(group_id, id)
        self._keys(group_id, id)
        write = Write(functools.partial(self._remove, group_id, id), (self.name, group_id, id))
        stored = await submit(alias, write)
        return None if stored is None else self.item(id, stored.data)

    async def _asend(self, channel: dict[str, Any], event: dict[str, Any]) -> None:
        alias = self._queue()
        if alias is None:
            return await to_thread(self._send)(channel, event)
        change = self._event(channel, event)
        await submit(alias, Write(functools.partial(publish, change, using=alias)), wait=False)
        return None

    get = dual(_get)
    set = dual(_set, _aset)
    delete = dual(_delete, _adelete)
    get_group = getGroup = dual(_get_group)
    list_groups = listGroups = dual(_list_groups)
    update = dual(_update, _aupdate)
    send = dual(_send, _asend)
    clear = dual(_clear)

    aget = asyncify(_get)
    aset = _aset
    adelete = _adelete
    aget_group = asyncify(_get_group)
    alist_groups = asyncify(_list_groups)
    aupdate = _aupdate
    asend = _asend
    aclear = asyncify(_clear)

    @cached_property
    def asynchronous(self) -> AsyncStream:
        """This stream for async code: every method a coroutine."""
        return AsyncStream(self)


class AsyncStream:
    """A stream as async code uses it, every method awaitable and typed so (``context.streams.x`` in an async
    handler). The methods are ``Stream``'s ``a*`` twins; the ``a*`` names work here too."""

    __slots__ = ("stream",)

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def __repr__(self) -> str:
        return f"<AsyncStream {self.stream.name!r}>"

    @property
    def name(self) -> str:
        return self.stream.name

    async def get(self, group_id: str, id: str) -> Item | None:
        return await self.stream.aget(group_id, id)

    async def set(self, group_id: str, id: str, data: dict[str, Any]) -> Item:
        return await self.stream.aset(group_id, id, data)

    async def delete(self, group_id: str, id: str) -> Item | None:
        return await self.stream.adelete(group_id, id)

    async def get_group(self, group_id: str) -> list[Item]:
        return await self.stream.aget_group(group_id)

    async def list_groups(self) -> list[str]:
        return await self.stream.alist_groups()

    async def update(self, group_id: str, id: str, ops: Any) -> Item:
        return await self.stream.aupdate(group_id, id, ops)

    async def send(self, channel: dict[str, Any], event: dict[str, Any]) -> None:
        await self.stream.asend(channel, event)

    async def clear(self, group_id: str) -> list[Item]:
        return await self.stream.aclear(group_id)

    getGroup = aget_group = get_group
    listGroups = alist_groups = list_groups
    aget, aset, adelete, aupdate, asend, aclear = get, set, delete, update, send, clear
