"""JSON, one rule for the whole package: what a write may hold, how frames are encoded, how input is parsed.

The rule (docs/security.md, "Input"): objects with string keys, arrays, strings of valid Unicode (no lone
surrogates, no NUL, which PostgreSQL's jsonb refuses), integers in 64 bits, finite floats, booleans and null,
nested at most ``MAX_DEPTH`` deep. What breaks it is refused where it enters, with the path of the offending
value: the stream API, ``context.state`` and ``emit()`` call ``encode``; request bodies and client frames are
read with ``decode``. So the database, the frame encoder and every client accept whatever got past that point.

A leaf: it imports nothing of motia_django but its errors, so the client (which needs no Django settings) and
every layer above share it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from motia_django.exceptions import StreamValidationError

__all__ = ["MAX_DEPTH", "RefusedJSON", "StoredJSONDecoder", "decode", "encode", "encode_frame", "encoded_size"]

#: Deepest nesting of objects and arrays a value may have (real documents are far shallower; this keeps every
#: recursive step, ours and our libraries', far from Python's recursion limit).
MAX_DEPTH = 64

_INT_RANGE = (-(2**63), 2**64 - 1)  # what orjson writes
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS  # no dates or dataclasses: not JSON


def _problem(value: Any) -> str | None:
    """Why one value (not looking inside containers) breaks the rule, or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a string that is not valid Unicode (a lone surrogate)"
        return "a string holding NUL (\\u0000), which PostgreSQL cannot store" if "\x00" in value else None
    if isinstance(value, int):
        return None if _INT_RANGE[0] <= value <= _INT_RANGE[1] else "an integer out of the 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number that is not finite (NaN or infinity)"
    if isinstance(value, dict | list | tuple):
        return None
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name} is not JSON"


def find_problem(data: Any) -> tuple[str, str] | None:
    """The path and the reason of the first value that breaks the rule, or None. Iterative: any depth."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list | tuple) and len(path) >= MAX_DEPTH:
            return ".".join(path), f"nested deeper than {MAX_DEPTH}"
        if isinstance(value, dict):
            for key, child in reversed(list(value.items())):
                if not isinstance(key, str):
                    return ".".join(path), f"an object key that is not a string ({key!r})"[:200]
                reason = _problem(key)
                if reason is not None:
                    return ".".join(path), f"an object key {reason.removeprefix('a string ').removeprefix('that ')}"
                stack.append((child, (*path, key)))
        elif isinstance(value, list | tuple):
            stack.extend((child, (*path, str(i))) for i, child in reversed(list(enumerate(value))))
        else:
            reason = _problem(value)
            if reason is not None:
                return ".".join(path), reason
    return None


def _refused(label: str, path: str, reason: str, verdict: str = "is not JSON") -> StreamValidationError:
    where = f"{label}.{path}" if path else label
    return StreamValidationError(f"{where} {verdict}: {reason}", [{"path": path, "message": f"{verdict}: {reason}"}])


def encode(data: Any, *, label: str = "data", max_bytes: int | None = None) -> str:
    """The JSON of ``data``, and the proof that it keeps the rule; ``StreamValidationError`` naming the field
    otherwise. ``max_bytes`` bounds the encoded size (UTF-8)."""
    try:
        raw = orjson.dumps(data, option=_STRICT)
    except (TypeError, orjson.JSONEncodeError):
        raw = None
    # orjson refuses most of what breaks the rule; what it lets through (NaN and infinities, written as null;
    # NUL, written as \u0000; nesting between MAX_DEPTH and its own limit) can only be there when these cheap
    # counts say so.
    if raw is None or b"null" in raw or b"\\u0000" in raw or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        found = find_problem(data)
        if found is not None:
            raise _refused(label, *found)
        if raw is None:  # orjson refused something the walk accepts (should not happen): say so plainly
            raise _refused(label, "", "orjson refused it")
    if max_bytes is not None and len(raw) > max_bytes:
        raise _refused(label, "", f"{len(raw)} bytes of JSON, at most {max_bytes} are accepted", "is too large")
    return raw.decode()


def encode_frame(frame: Any) -> str:
    """A frame for the wire (its data kept the rule when it was written)."""
    return orjson.dumps(frame, option=orjson.OPT_NON_STR_KEYS).decode()


def encoded_size(text: str) -> int:
    """The bytes ``text`` takes on the wire (UTF-8)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class RefusedJSON(ValueError):
    """What ``decode`` raises for text that breaks the rule: ``path`` names the value (``"message"``, ``"a.0"``;
    ``""`` for the document or a syntax error), so an API answer can point at the field."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(_at(path, reason))
        self.path, self.reason = path, reason


def decode(text: str | bytes, *, max_depth: int | None = MAX_DEPTH) -> Any:
    """Parse JSON strictly: no NaN or infinities, no lone surrogates, no NUL in a string, nesting at most
    ``max_depth`` deep (None: orjson's own bound, 1024). Raises ``ValueError`` saying why, and where: a value of
    valid JSON syntax that breaks the rule (a lone surrogate, NUL, NaN, an integer past 64 bits, which orjson
    would read as a float) is named by its path (``message: a string that is not valid Unicode (a lone
    surrogate)``, with ``path`` set on the ``RefusedJSON`` raised); a syntax error by its position."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        found = _lenient_problem(text)
        if found is None:
            raise
        raise RefusedJSON(*found) from None
    if _long_number(text):
        found = _lenient_problem(text)  # orjson reads an integer past 64 bits as a float: refused, not rounded
        if found is not None:
            raise RefusedJSON(*found)
    if _has_nul_escape(text) and _holds_nul(value):
        found = find_problem(value)
        raise RefusedJSON(*(found or ("", "a string holds NUL (\\u0000), which PostgreSQL cannot store")))
    if max_depth is not None and isinstance(value, dict | list) and _brackets(text) > max_depth:
        depth = _depth(value)
        if depth > max_depth:
            raise RefusedJSON("", f"JSON nested {depth} deep; at most {max_depth} is accepted")
    return value


#: 19 digits or more: an integer that may be past 64 bits (``-9223372036854775809`` has 19).
_LONG_BYTES, _LONG_TEXT = re.compile(rb"[0-9]{19,}"), re.compile(r"[0-9]{19,}")


class StoredJSONDecoder(json.JSONDecoder):
    """Stored JSON as the database hands it back (the decoder of ``StreamItem.data``, ``Event.data`` and
    ``StateEntry.value``). PostgreSQL's ``jsonb`` keeps a number as a ``numeric``, so a float written as
    ``1e+20`` comes back as ``100000000000000000000``; an integer past 64 bits is read as the float it was (the
    stream API writes none, and the wire cannot carry one), as orjson reads it. Whatever orjson refuses (NaN, a
    lone surrogate: data written around the API) is read as Python's ``json`` reads it, with the same rule for
    integers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"parse_int": _int_or_float, **kwargs})

    def decode(self, s: str, *args: Any) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return super().decode(s, *args)


def _int_or_float(text: str) -> int | float:
    value = int(text)
    return value if _INT_RANGE[0] <= value <= _INT_RANGE[1] else float(text)


def _long_number(text: str | bytes) -> bool:
    return bool(_LONG_BYTES.search(text) if isinstance(text, bytes) else _LONG_TEXT.search(text))


def _at(path: str, reason: str) -> str:
    return f"{path}: {reason}" if path else reason


#: The longest text ``decode`` parses a second time to name what it refuses (more than Django's default body limit;
#: Python's parser takes about 0.15 s a MB of the most contrived JSON).
_LENIENT_MAX = 4 * 1024 * 1024


def _lenient_problem(text: str | bytes) -> tuple[str, str] | None:
    """Where ``text``, which orjson refused or would read as a float, breaks the rule, if it is JSON to Python's own
    parser (which reads lone surrogates, NaN and big integers exactly): its path and reason, or None. Nesting too
    deep for that parser is its ``RecursionError``, caught: None."""
    if len(text) > _LENIENT_MAX:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return find_problem(value)


def _has_nul_escape(text: str | bytes) -> bool:
    return b"\\u0000" in text if isinstance(text, bytes) else "\\u0000" in text


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _brackets(text: str | bytes) -> int:
    if isinstance(text, str):
        return text.count("[") + text.count("{")
    return text.count(b"[") + text.count(b"{")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return deepest
