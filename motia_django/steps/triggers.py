"""Stream triggers in step configs: an event step that runs on a stream's changes, as Motia 1.x's
``{"type": "stream"}`` trigger does.

``"triggers": [{"type": "stream", "streamName": "todos", "groupId": "home", "itemId": "7", "condition": fn}]``
(``groupId``, ``itemId`` and ``condition`` optional; ``condition(input) -> bool``, a callable or a dotted path).
What runs the step is ``motia_django.steps.emit.store_triggered``: one ``Event`` per matching change, stored in the
write's own transaction. The handler's input is ``trigger_input()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from motia_django.exceptions import DefinitionError

__all__ = ["TOPIC_PREFIX", "StreamTrigger", "parse_triggers", "trigger_input"]

#: Triggered events are stored under the topic ``stream:<stream name>``.
TOPIC_PREFIX = "stream:"

_HINT = ('Write "triggers": [{"type": "stream", "streamName": "<stream>"}] (optional: "groupId", "itemId", '
         '"condition": a callable or a dotted path to one, called with the input, returning a bool).')


@dataclass(frozen=True)
class StreamTrigger:
    """Which changes of which stream run the step."""

    stream: str
    group_id: str | None = None
    item_id: str | None = None
    condition: Callable[[dict[str, Any]], Any] | None = None

    @property
    def topic(self) -> str:
        return TOPIC_PREFIX + self.stream

    def matches(self, group_id: str, item_id: str | None) -> bool:
        return (self.group_id is None or self.group_id == group_id) and (
            self.item_id is None or self.item_id == item_id)


def _key(entry: dict[str, Any], camel: str, snake: str, name: str) -> str | None:
    value = entry.get(camel, entry.get(snake))
    if value is not None and (not isinstance(value, str) or not value):
        raise DefinitionError("motia_django.E113", f"step {name!r}: a stream trigger's {camel} must be a "
                              "non-empty string", _HINT)
    return value


def parse_triggers(value: Any, name: str) -> list[StreamTrigger]:
    """The stream triggers of a step's config (``DefinitionError`` E113 names the mistake)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise DefinitionError("motia_django.E113", f"step {name!r}: triggers must be a list", _HINT)
    triggers = []
    for entry in value:
        if not isinstance(entry, dict) or entry.get("type") != "stream":
            raise DefinitionError("motia_django.E113", f"step {name!r}: only stream triggers are supported here, "
                                  f"got {entry!r}"[:300], _HINT + ' Topics go in "subscribes".')
        stream = _key(entry, "streamName", "stream_name", name)
        if stream is None:
            raise DefinitionError("motia_django.E113", f"step {name!r}: a stream trigger needs streamName", _HINT)
        condition = entry.get("condition")
        if isinstance(condition, str):
            try:
                condition = import_string(condition)
            except ImportError as exc:
                raise DefinitionError("motia_django.E113", f"step {name!r}: condition {condition!r} cannot be "
                                      f"imported: {exc}", _HINT) from None
        if condition is not None and not callable(condition):
            raise DefinitionError("motia_django.E113", f"step {name!r}: a stream trigger's condition is not "
                                  "callable", _HINT)
        triggers.append(StreamTrigger(stream, _key(entry, "groupId", "group_id", name),
                                      _key(entry, "itemId", "item_id", name), condition))
    return triggers


def trigger_input(stream: str, group_id: str, item_id: str, kind: str, item: dict[str, Any],
                  timestamp: int | float, previous: dict[str, Any] | None) -> dict[str, Any]:
    """What a triggered handler receives (and its condition is called with)."""
    return {"type": "stream", "streamName": stream, "groupId": group_id, "id": item_id, "timestamp": timestamp,
            "event": {"type": kind, "data": item}, "previous": previous}
