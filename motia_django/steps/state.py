"""``context.state``: Motia's flow state, JSON values under (group, key), kept in the ``StateEntry`` table.

Steps usually use the trace id as the group (``await context.state.set(context.trace_id, "order", {...})``)
so that the steps of one flow share data; ``clear(group)`` drops it when the flow is done. ``update`` takes the
stream API's ops (``motia_django.stream.update_ops``) and applies them in one locked read-modify-write, so
concurrent steps incrementing one counter lose nothing. Each method is plain in sync code and awaitable in async
code, like the stream API; ``AsyncState`` is the always-async view an async handler's context holds.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from motia_django.bridge import asyncify, dual
from motia_django.encoding import encode
from motia_django.exceptions import StreamValidationError
from motia_django.models import StateEntry
from motia_django.stream.items import validate_key
from motia_django.stream.update_ops import apply_ops

__all__ = ["AsyncState", "State", "async_state", "state"]


def _key(label: str, value: Any) -> str:
    """Groups and keys follow the stream ids' rules (and columns)."""
    return validate_key(f"state {label}", value)


class State:
    """The state store; ``context.state`` is the shared instance ``motia_django.steps.state.state``."""

    def _get(self, group: str, key: str) -> Any:
        entry = StateEntry.objects.filter(group=_key("group", group), key=_key("key", key)).first()
        return None if entry is None else entry.value

    def _set(self, group: str, key: str, value: Any) -> Any:
        """Store ``value`` (any JSON) and return it."""
        _key("group", group), _key("key", key)
        encode(value, label="state value")
        with transaction.atomic():
            StateEntry.objects.update_or_create(group=group, key=key, defaults={"value": value})
        return value

    def _delete(self, group: str, key: str) -> Any:
        """Delete the value; returns it, or None if there was none."""
        with transaction.atomic():
            entry = StateEntry.objects.select_for_update().filter(
                group=_key("group", group), key=_key("key", key)).first()
            if entry is None:
                return None
            entry.delete()
            return entry.value

    def _update(self, group: str, key: str, ops: Any) -> dict[str, Any]:
        """Apply update ops (``set``, ``merge``, ``increment``, ``decrement``, ``append``, ``remove``; see
        ``motia_django.stream.update_ops``) to the value under a row lock and return the new value. A missing key
        (or a null value) starts from ``{}``; a value that is not an object cannot take ops."""
        _key("group", group), _key("key", key)
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    entry = StateEntry.objects.select_for_update().filter(group=group, key=key).first()
                    current = None if entry is None else entry.value
                    if current is not None and not isinstance(current, dict):
                        raise StreamValidationError(
                            f"state {group}/{key} holds a {type(current).__name__}; update ops need an object "
                            "(use set to replace it)")
                    value = apply_ops(current, ops)
                    encode(value, label="state value")
                    if entry is None:
                        StateEntry.objects.create(group=group, key=key, value=value)
                    else:
                        StateEntry.objects.filter(pk=entry.pk).update(value=value, updated_at=timezone.now())
                    return value
            except IntegrityError:  # created concurrently: the next pass locks the new row
                continue
        raise StreamValidationError(f"state {group}/{key}: could not update it (created concurrently, repeatedly)")

    def _list_groups(self) -> list[str]:
        """The groups that hold values, sorted."""
        return list(StateEntry.objects.order_by("group").values_list("group", flat=True).distinct())

    def _get_group(self, group: str) -> list[Any]:
        """The group's values, oldest first."""
        return list(StateEntry.objects.filter(group=_key("group", group))
                    .order_by("created_at", "id").values_list("value", flat=True))

    def _clear(self, group: str) -> None:
        StateEntry.objects.filter(group=_key("group", group)).delete()

    get = dual(_get)
    set = dual(_set)
    delete = dual(_delete)
    update = dual(_update)
    get_group = getGroup = dual(_get_group)
    list_groups = listGroups = dual(_list_groups)
    clear = dual(_clear)

    aget = asyncify(_get)
    aset = asyncify(_set)
    adelete = asyncify(_delete)
    aupdate = asyncify(_update)
    aget_group = asyncify(_get_group)
    alist_groups = asyncify(_list_groups)
    aclear = asyncify(_clear)


state = State()


class AsyncState:
    """``context.state`` in an async handler: the same store, every method a coroutine and typed so."""

    __slots__ = ("state",)

    def __init__(self, store: State) -> None:
        self.state = store

    async def get(self, group: str, key: str) -> Any:
        return await self.state.aget(group, key)

    async def set(self, group: str, key: str, value: Any) -> Any:
        return await self.state.aset(group, key, value)

    async def delete(self, group: str, key: str) -> Any:
        return await self.state.adelete(group, key)

    async def update(self, group: str, key: str, ops: Any) -> dict[str, Any]:
        return await self.state.aupdate(group, key, ops)

    async def get_group(self, group: str) -> list[Any]:
        return await self.state.aget_group(group)

    async def list_groups(self) -> list[str]:
        return await self.state.alist_groups()

    async def clear(self, group: str) -> None:
        await self.state.aclear(group)

    getGroup = aget_group = get_group
    listGroups = alist_groups = list_groups
    aget, aset, adelete, aupdate, aclear = get, set, delete, update, clear


async_state = AsyncState(state)
