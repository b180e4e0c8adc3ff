"""JSON, one rule for the whole package: what a write may hold, how frames are encoded, how input is parsed.

A leaf: it imports nothing of motia_django but its errors' module, so the client (which needs no Django
settings) and every layer above share it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["decode", "encode", "encode_frame"]


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
