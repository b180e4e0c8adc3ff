"""TypeScript type expressions for ``motia_django.typescript``: a rendered type with its precedence, and the
names, keys, literals and doc comments the converter writes."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "INDENT",
    "INTERSECTION",
    "MAX_DEPTH",
    "MISSING",
    "NEVER",
    "NULL",
    "PRIMARY",
    "UNION",
    "UNKNOWN",
    "TsType",
    "ts_array",
    "ts_doc",
    "ts_intersection",
    "ts_key",
    "ts_literal",
    "ts_union",
    "type_name",
]

#: Schemas nested deeper than this are ``unknown`` (real schemas are shallow; this keeps odd ones from
#: exhausting the stack).
MAX_DEPTH = 48

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_WORDS = re.compile(r"[^\W_]+")  # letters and digits, Unicode ones included (TypeScript accepts them)
INDENT = "  "
MISSING = object()

# Precedence of a rendered type: a union must be parenthesised inside an intersection or before ``[]``.
UNION, INTERSECTION, PRIMARY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class TsType:
    text: str
    prec: int = PRIMARY
    members: tuple[TsType, ...] = ()  # of a union, so that unions of unions flatten


UNKNOWN, NEVER, NULL = TsType("unknown"), TsType("never"), TsType("null")


def type_name(name: str) -> str:
    """A TypeScript type name for a stream or definition: ``chatMessage`` -> ``ChatMessage``,
    ``chat-message`` -> ``ChatMessage``."""
    joined = "".join(word[:1].upper() + word[1:] for word in _WORDS.findall(name))
    if not joined.isidentifier():  # empty, or starting with a digit
        joined = "Stream" + joined
    return joined


def ts_union(members: Iterable[TsType]) -> TsType:
    seen: dict[str, TsType] = {}
    for member in members:
        for one in member.members or (member,):
            if one.text == "unknown":
                return UNKNOWN
            if one.text != "never":
                seen.setdefault(one.text, one)
    if not seen:
        return NEVER
    if len(seen) == 1:
        return next(iter(seen.values()))
    return TsType(" | ".join(seen), UNION, tuple(seen.values()))


def ts_intersection(members: Iterable[TsType]) -> TsType:
    seen: dict[str, TsType] = {}
    for member in members:
        if member.text == "never":
            return NEVER
        if member.text != "unknown":
            seen.setdefault(member.text, member)
    if not seen:
        return UNKNOWN
    if len(seen) == 1:
        return next(iter(seen.values()))
    return TsType(" & ".join(f"({m.text})" if m.prec < INTERSECTION else m.text for m in seen.values()), INTERSECTION)


def ts_array(element: TsType) -> TsType:
    return TsType(f"({element.text})[]" if element.prec < PRIMARY else f"{element.text}[]")


def ts_key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def ts_literal(value: Any, depth: int = 0) -> TsType:
    """The TypeScript type of exactly this JSON value (``enum`` and ``const``)."""
    if depth > MAX_DEPTH:
        return UNKNOWN
    if value is None:
        return NULL
    if isinstance(value, bool):
        return TsType("true" if value else "false")
    if isinstance(value, int):
        return TsType(str(value))
    if isinstance(value, float):
        return TsType(json.dumps(value) if math.isfinite(value) else "number")
    if isinstance(value, str):
        return TsType(json.dumps(value))
    if isinstance(value, list):
        return TsType("[" + ", ".join(ts_literal(v, depth + 1).text for v in value) + "]")
    if isinstance(value, dict):
        if not value:
            return TsType("{ [key: string]: never }")
        fields = (f"{ts_key(str(k))}: {ts_literal(v, depth + 1).text}" for k, v in value.items())
        return TsType("{ " + "; ".join(fields) + " }")
    return UNKNOWN


def ts_doc(schema: Any, indent: str) -> list[str]:
    """A JSDoc comment from ``description`` (what pydantic's ``Field(description=...)`` gives)."""
    text = schema.get("description") if isinstance(schema, dict) else None
    if not isinstance(text, str) or not text.strip():
        return []
    lines = text.strip().replace("*/", "*\\/").splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0].strip()} */"]
    return [f"{indent}/**", *(f"{indent} * {line.rstrip()}".rstrip() for line in lines), f"{indent} */"]


