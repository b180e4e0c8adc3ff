"""The rules of an item that every layer shares: its keys, its timestamp and the shape clients see.

- Group and item ids: what is accepted, and the columns' limits.
- The clock and the one timestamp rule (docs/protocol.md, "Timestamps"): a write's timestamp is
  ``max(now, previous + 1)``, so a client never drops the second of two writes made in one millisecond.
- An item as clients see it: the stored data with ``id`` merged in.

No Django here: the stream client uses the key rule too.
"""

from __future__ import annotations

from time import time_ns
from typing import Any

from motia_django.exceptions import StreamValidationError

__all__ = ["MAX_KEY_LENGTH", "MAX_STREAM_NAME_LENGTH", "make_item", "next_timestamp", "now_ms", "validate_key"]

#: Longest group id or item id accepted (the columns' size).
MAX_KEY_LENGTH = 255
MAX_STREAM_NAME_LENGTH = 128


def now_ms() -> int:
    """Epoch milliseconds, the protocol's clock (tests freeze it by patching
    ``motia_django.stream.items.time_ns``)."""
    return time_ns() // 1_000_000


def next_timestamp(previous: int | None) -> int:
    """The timestamp of a write after one stamped ``previous`` (None: the item's first write)."""
    now = now_ms()
    return now if previous is None or now > previous else previous + 1


def validate_key(label: str, value: Any, *, stream: str = "") -> str:
    """Group and item ids: non-empty strings of valid Unicode, at most ``MAX_KEY_LENGTH`` characters, no NUL."""
    if not isinstance(value, str):
        raise StreamValidationError(f"{label} must be a string, got {type(value).__name__}", stream=stream)
    if not value:
        raise StreamValidationError(f"{label} must not be empty", stream=stream)
    if len(value) > MAX_KEY_LENGTH:
        raise StreamValidationError(f"{label} is longer than {MAX_KEY_LENGTH} characters", stream=stream)
    if "\x00" in value:
        raise StreamValidationError(f"{label} must not contain NUL characters", stream=stream)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate: no JSON encoder or database would take it
        raise StreamValidationError(f"{label} must be valid Unicode", stream=stream) from None
    return value


def make_item(item_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """An item as clients see it: the stored data with ``id`` merged in, ``id`` first."""
    item = {"id": item_id, **data}
    item["id"] = item_id
    return item
