"""Operations for ``Stream.update()``: set, merge, increment, decrement, append, remove at a path.

An op is ``{"type": "set", "path": "a.b", "value": 1}``; ``path`` is a dotted string or a list of keys, and
empty means the item itself (for ``set`` and ``merge``). ``increment``/``decrement`` take ``by`` (default 1;
``value`` is accepted too). ``append`` adds ``value`` to the end of a string (a string) or a list (one element),
starting from an empty one: a streamed reply grows without the step keeping the whole text. Ops apply in order to
a copy; a bad op raises ``StreamValidationError``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from motia_django.exceptions import StreamValidationError

__all__ = ["OP_TYPES", "apply_ops"]

OP_TYPES = ("set", "merge", "increment", "decrement", "append", "remove")


def _bad(index: int, message: str) -> StreamValidationError:
    return StreamValidationError(f"ops[{index}]: {message}", [{"path": f"ops.{index}", "message": message}])


def _split(path: Any, index: int) -> list[str]:
    if path is None or path == "" or path == []:
        return []
    if isinstance(path, str):
        keys = path.split(".")
    elif isinstance(path, Sequence) and all(isinstance(k, str) for k in path):
        keys = list(path)
    else:
        raise _bad(index, "path must be a dotted string or a list of strings")
    if any(k == "" for k in keys):
        raise _bad(index, f"path {path!r} has an empty key")
    return keys


def _parent(data: dict[str, Any], keys: list[str], index: int, create: bool) -> dict[str, Any] | None:
    node: Any = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            if not create:
                return None
            child = node[key] = {}
        if not isinstance(child, dict):
            raise _bad(index, f"{'.'.join(keys)}: {key!r} is not an object")
        node = child
    return node


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def apply_ops(data: dict[str, Any] | None, ops: Any) -> dict[str, Any]:
    """Return a new dict: ``data`` (or ``{}``) with ``ops`` applied in order."""
    if isinstance(ops, dict):
        ops = [ops]
    if not isinstance(ops, list) or not ops:
        raise StreamValidationError(
            "ops must be a non-empty list of operations", [{"path": "ops", "message": "expected a non-empty list"}]
        )
    result: dict[str, Any] = copy.deepcopy(data) if data else {}
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or op.get("type") not in OP_TYPES:
            raise _bad(i, f"type must be one of {', '.join(OP_TYPES)}")
        kind = op["type"]
        keys = _split(op.get("path"), i)
        if kind in ("set", "merge", "append") and "value" not in op:
            raise _bad(i, f"{kind} needs a value")
        if not keys:
            if kind == "set" and isinstance(op["value"], dict):
                result = copy.deepcopy(op["value"])
            elif kind == "merge" and isinstance(op["value"], dict):
                result.update(copy.deepcopy(op["value"]))
            else:
                raise _bad(i, f"{kind} without a path needs an object value" if kind in ("set", "merge")
                           else f"{kind} needs a path")
            continue
        parent = _parent(result, keys, i, create=kind != "remove")
        last = keys[-1]
        if kind == "remove":
            if parent is not None:
                parent.pop(last, None)
        elif kind == "set":
            assert parent is not None
            parent[last] = copy.deepcopy(op["value"])
        elif kind == "append":
            assert parent is not None
            current, value = parent.get(last), op["value"]
            if isinstance(current, list):
                parent[last] = [*current, copy.deepcopy(value)]
            elif isinstance(current, str) or (current is None and isinstance(value, str)):
                if not isinstance(value, str):
                    raise _bad(i, f"append at {'.'.join(keys)} adds a string to a string (got {value!r})")
                parent[last] = (current or "") + value
            elif current is None:
                parent[last] = [copy.deepcopy(value)]
            else:
                raise _bad(i, f"append at {'.'.join(keys)} needs a string or a list (have {current!r})")
        elif kind == "merge":
            assert parent is not None
            current = parent.get(last, {})
            if not isinstance(current, dict) or not isinstance(op["value"], dict):
                raise _bad(i, f"merge at {'.'.join(keys)} needs objects on both sides")
            parent[last] = {**current, **copy.deepcopy(op["value"])}
        else:
            assert parent is not None
            by = op.get("by", op.get("value", 1))
            current = parent.get(last, 0)
            if not _number(by) or not _number(current):
                raise _bad(i, f"{kind} at {'.'.join(keys)} needs numbers (have {current!r}, by {by!r})")
            parent[last] = current + by if kind == "increment" else current - by
    return result
