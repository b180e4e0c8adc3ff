"""The leaf layer: rules every other module shares, with no Django and nothing of motia_django but its errors.

- The clock and the one timestamp rule (docs/protocol.md, "Timestamps"): a write's timestamp is
  ``max(now, previous + 1)``, so a client never drops the second of two writes made in one millisecond.
- JSON: the encoding that proves a write is JSON, the fast encoding of frames, strict decoding.
- Group and item ids: what is accepted, and the columns' limits.
- The item shape clients see, and trace ids.
"""

from __future__ import annotations

import json
import uuid
from time import time_ns
from typing import Any

import orjson

from motia_django.exceptions import StreamValidationError

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_STREAM_NAME_LENGTH",
    "decode",
    "encode",
    "encode_frame",
    "make_item",
    "new_trace_id",
    "next_timestamp",
    "now_ms",
    "validate_key",
]

#: Longest group id or item id accepted (the columns' size).
MAX_KEY_LENGTH = 255
MAX_STREAM_NAME_LENGTH = 128


def now_ms() -> int:
    """Epoch milliseconds, the protocol's clock (tests freeze it by patching ``motia_django.core.time_ns``)."""
    return time_ns() // 1_000_000


def next_timestamp(previous: int | None) -> int:
    """The timestamp of a write after one stamped ``previous`` (None: the item's first write)."""
    now = now_ms()
    return now if previous is None or now > previous else previous + 1


def encode(data: Any) -> str:
    """The JSON of a write, and the proof that it is JSON: raises ``TypeError``/``ValueError`` for what JSON
    cannot hold, NaN and infinities included (which orjson would quietly turn into null)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_frame(frame: Any) -> str:
    """A frame for the wire (orjson: its data was proven JSON when it was written)."""
    return orjson.dumps(frame, option=orjson.OPT_NON_STR_KEYS).decode()


def decode(text: str | bytes) -> Any:
    """Parse JSON strictly: no NaN or infinities, no unpaired surrogates, nesting at most 1024 deep. Raises
    ``ValueError``."""
    return orjson.loads(text)


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


def new_trace_id() -> str:
    return str(uuid.uuid4())
