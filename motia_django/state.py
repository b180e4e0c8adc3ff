"""``context.state``: Motia's flow state, JSON values under (group, key), kept in the ``StateEntry`` table.

Steps usually use the trace id as the group (``await context.state.set(context.trace_id, "order", {...})``)
so that the steps of one flow share data; ``clear(group)`` drops it when the flow is done. Each method is
plain in sync code and awaitable in async code, like the stream API.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from motia_django.bridge import asyncify, dual
from motia_django.core import validate_key
from motia_django.exceptions import StreamValidationError
from motia_django.models import StateEntry

__all__ = ["State", "state"]


def _key(label: str, value: Any) -> str:
    """Groups and keys follow the stream ids' rules (and columns)."""
    return validate_key(f"state {label}", value)


class State:
    """The state store; ``context.state`` is the shared instance ``motia_django.state.state``."""

    def _get(self, group: str, key: str) -> Any:
        entry = StateEntry.objects.filter(group=_key("group", group), key=_key("key", key)).first()
        return None if entry is None else entry.value

    def _set(self, group: str, key: str, value: Any) -> Any:
        """Store ``value`` (any JSON) and return it."""
        _key("group", group), _key("key", key)
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise StreamValidationError(f"state value is not JSON: {exc}") from None
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

    def _get_group(self, group: str) -> list[Any]:
        """The group's values, oldest first."""
        return list(StateEntry.objects.filter(group=_key("group", group))
                    .order_by("created_at", "id").values_list("value", flat=True))

    def _clear(self, group: str) -> None:
        StateEntry.objects.filter(group=_key("group", group)).delete()

    get = dual(_get)
    set = dual(_set)
    delete = dual(_delete)
    get_group = getGroup = dual(_get_group)
    clear = dual(_clear)

    aget = asyncify(_get)
    aset = asyncify(_set)
    adelete = asyncify(_delete)
    aget_group = asyncify(_get_group)
    aclear = asyncify(_clear)


state = State()
