"""The step registry: ``*_step.py`` modules (a ``config`` dict and a ``handler``), loaded at app start.

``step_registry.load()`` runs in ``AppConfig.ready()`` beside the stream registry. A step whose config is wrong
is left out and its problem kept as a system check message naming the file (``step_registry.errors``, ids
``motia_django.E1xx`` / ``W1xx``), so ``manage.py check`` and the server's start-up say what to change.

Interface (read by the API views, the worker, the OpenAPI schema and the workbench pages):

- ``step_registry.steps``: every valid ``Step``, in file order; ``.api_steps``, ``.event_steps`` and
  ``.cron_steps`` filter it;
  ``.get(name)`` returns one (``KeyError`` if absent); ``.subscribers(topic)`` the event steps of a topic;
  ``.stream_triggers(stream)`` the (step, trigger) pairs watching a stream (``motia_django.triggers``);
  ``.errors`` the check messages; ``.load()`` rebuilds everything in one swap.
- ``Step``: ``name``, ``type`` ("api", "event", "cron" or "noop"), ``description``, ``flows``, ``emits``,
  ``virtual_emits`` and ``virtual_subscribes`` (topic names), ``labels`` (topic -> label, from Motia's
  ``{"topic", "label"}`` entries), ``path`` (Motia syntax, ``/chat-messages/:channelId``), ``path_params``,
  ``method``, ``body_schema`` (a compiled ``motia_django.schema.Schema`` or None), ``response_schema``
  (``{status: Schema}``), ``query_params`` (``[{"name", "description"}]``), ``subscribes``, ``triggers``,
  ``input_schema``,
  ``cron`` (the expression of a cron step), ``handler``, ``is_async``, ``origin`` (the file), ``config`` (the
  module's dict, untouched).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core import checks
from django.utils.module_loading import import_string

from motia_django.changes import record_changes_of
from motia_django.cron import check_expression
from motia_django.discovery import iter_configs
from motia_django.exceptions import DefinitionError, SchemaDefinitionError
from motia_django.registries import Registry
from motia_django.schema import Schema, compile_schema
from motia_django.triggers import StreamTrigger, parse_triggers

__all__ = ["STEP_TYPES", "Step", "StepRegistry", "build_step", "path_shape", "step_registry"]

STEP_TYPES = ("api", "event", "cron", "noop")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_PARAM = re.compile(r"^:([A-Za-z_][A-Za-z0-9_]*)$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=@-]+$")


@dataclass
class Step:
    """One step as the framework uses it (see the module docstring)."""

    name: str
    type: str
    handler: Callable[..., Any] | None
    origin: str
    config: dict[str, Any]
    description: str = ""
    flows: list[str] = field(default_factory=list)
    emits: list[str] = field(default_factory=list)
    virtual_emits: list[str] = field(default_factory=list)
    virtual_subscribes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    path: str = ""
    path_params: list[str] = field(default_factory=list)
    method: str = ""
    body_schema: Schema | None = None
    response_schema: dict[int, Schema] = field(default_factory=dict)
    query_params: list[dict[str, Any]] = field(default_factory=list)
    subscribes: list[str] = field(default_factory=list)
    triggers: list[StreamTrigger] = field(default_factory=list)  # stream triggers (event steps)
    input_schema: Schema | None = None
    cron: str = ""
    authentication_classes: list[Any] | None = None
    permission_classes: list[Any] | None = None

    @property
    def is_async(self) -> bool:
        return self.handler is not None and inspect.iscoroutinefunction(self.handler)

    @property
    def shape(self) -> str:
        """The path with parameter names erased: two steps with one shape and method collide."""
        return path_shape(self.path)

    def may_emit(self, topic: str) -> bool:
        return topic in self.emits

    def __repr__(self) -> str:
        return f"<Step {self.type} {self.name!r} from {self.origin}>"


def path_shape(path: str) -> str:
    return "/".join(":" if seg.startswith(":") else seg for seg in path.split("/"))


def _strings(config: dict[str, Any], key: str, name: str, *, topics: bool = False) -> list[str]:
    """A list of strings; for emits, Motia's ``{"topic": ..., "label": ...}`` entries are accepted too."""
    value = config.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise DefinitionError("motia_django.E108", f"step {name!r}: {key} must be a list", f'Write "{key}": ["..."].')
    out: list[str] = []
    for entry in value:
        if topics and isinstance(entry, dict):
            entry = entry.get("topic")
        if not isinstance(entry, str) or not entry:
            raise DefinitionError(
                "motia_django.E108", f"step {name!r}: {key} has an entry that is not a non-empty string",
                f'Entries of "{key}" are strings' + (' or {"topic": "..."}.' if topics else "."))
        out.append(entry)
    return out


def _labels(config: dict[str, Any], *keys: str) -> dict[str, str]:
    """Labels of Motia's ``{"topic": ..., "label": ...}`` entries (drawn on the Flows page's edges)."""
    labels: dict[str, str] = {}
    for key in keys:
        for entry in config.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("label"), str) and entry["label"]:
                labels.setdefault(str(entry.get("topic")), entry["label"])
    return labels


def _schema(value: Any, name: str, key: str) -> Schema | None:
    if value is None:
        return None
    try:
        return compile_schema(value)
    except SchemaDefinitionError as exc:
        raise DefinitionError("motia_django.E106", f"step {name!r}: {key} is {exc}",
                   "Give a JSON Schema dict, a pydantic model class, or Model.model_json_schema().") from None


def _classes(config: dict[str, Any], keys: tuple[str, str], name: str) -> list[Any] | None:
    value = config.get(keys[0], config.get(keys[1]))
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise DefinitionError("motia_django.E111", f"step {name!r}: {keys[0]} must be a list",
                   "Give DRF classes or their dotted paths, e.g. ['rest_framework.permissions.IsAuthenticated'].")
    out = []
    for entry in value:
        if isinstance(entry, str):
            try:
                entry = import_string(entry)
            except ImportError as exc:
                raise DefinitionError("motia_django.E111", f"step {name!r}: {entry!r} cannot be imported: {exc}",
                           "Give a dotted path to a DRF authentication or permission class.") from None
        out.append(entry)
    return out


def _parse_path(path: Any, name: str) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise DefinitionError(
            "motia_django.E105", f"step {name!r}: path must be a string starting with '/', got {path!r}",
            'Write "path": "/chat-messages/:channelId".')
    params: list[str] = []
    for seg in path.strip("/").split("/") if path.strip("/") else []:
        match = _PARAM.match(seg)
        if match:
            if match.group(1) in params:
                raise DefinitionError(
                    "motia_django.E105", f"step {name!r}: path parameter :{match.group(1)} is repeated",
                    "Give each path parameter its own name.")
            params.append(match.group(1))
        elif not _LITERAL.match(seg):
            raise DefinitionError("motia_django.E105", f"step {name!r}: path segment {seg!r} is not supported",
                       "Use literal segments and :name parameters (name: letters, digits, underscore).")
    return params


def build_step(config: Any, handler: Any, origin: str) -> Step:
    """Build and check one ``Step`` from a module's ``config`` and ``handler``."""
    if not isinstance(config, dict):
        raise DefinitionError("motia_django.E101", f"config must be a dict, got {type(config).__name__}",
                   'Define config = {"type": "api", "name": ..., ...} at module level.')
    name = config.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError(
            "motia_django.E103", "step has no name", 'Add "name": "<StepName>" (unique in the project).')
    kind = config.get("type")
    if kind not in STEP_TYPES:
        raise DefinitionError("motia_django.E102", f"step {name!r}: unknown type {kind!r}",
                   f"Use one of: {', '.join(STEP_TYPES)}.")
    if kind != "noop" and not callable(handler):
        raise DefinitionError("motia_django.E104", f"step {name!r}: the module has no callable handler",
                   "Define handler(req, context) for api steps, handler(input, context) for event steps or "
                   "handler(context) for cron steps (def or async def).")
    description = config.get("description", "")
    if not isinstance(description, str):
        raise DefinitionError("motia_django.E108", f"step {name!r}: description must be a string", "Use a string.")
    step = Step(
        name=name, type=kind, handler=handler if kind != "noop" else None, origin=origin, config=config,
        description=description,
        flows=_strings(config, "flows", name),
        emits=_strings(config, "emits", name, topics=True),
        virtual_emits=_strings(config, "virtualEmits", name, topics=True),
        virtual_subscribes=_strings(config, "virtualSubscribes", name, topics=True),
        labels=_labels(config, "emits", "virtualEmits"),
    )
    if kind == "api":
        step.path_params = _parse_path(config.get("path"), name)
        step.path = "/" + config["path"].strip("/")
        method = config.get("method")
        if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
            raise DefinitionError(
                "motia_django.E105", f"step {name!r}: method must be one of {', '.join(HTTP_METHODS)}, "
                f"got {method!r}", 'Write "method": "POST".')
        step.method = method.upper()
        step.body_schema = _schema(config.get("bodySchema"), name, "bodySchema")
        responses = config.get("responseSchema") or {}
        if not isinstance(responses, dict):
            raise DefinitionError(
                "motia_django.E106", f"step {name!r}: responseSchema must map status codes to schemas",
                'Write "responseSchema": {200: {...}}.')
        for status, schema in responses.items():
            try:
                code = int(status)
            except (TypeError, ValueError):
                raise DefinitionError(
                    "motia_django.E106", f"step {name!r}: responseSchema key {status!r} is not a status",
                    "Use HTTP status codes (200, 201, ...) as keys.") from None
            compiled = _schema(schema, name, f"responseSchema[{status!r}]")
            if compiled is not None:
                step.response_schema[code] = compiled
        query = config.get("queryParams") or []
        if not isinstance(query, list) or not all(
            isinstance(q, dict) and isinstance(q.get("name"), str) for q in query
        ):
            raise DefinitionError(
                "motia_django.E108", f"step {name!r}: queryParams must be a list of {{name, description}}",
                'Write "queryParams": [{"name": "limit", "description": "..."}].')
        step.query_params = list(query)
        step.authentication_classes = _classes(config, ("authentication_classes", "authenticationClasses"), name)
        step.permission_classes = _classes(config, ("permission_classes", "permissionClasses"), name)
    elif kind == "event":
        step.subscribes = _strings(config, "subscribes", name)
        step.triggers = parse_triggers(config.get("triggers"), name)
        if not step.subscribes and not step.triggers:
            raise DefinitionError("motia_django.E107", f"step {name!r}: an event step needs subscribes or triggers",
                       'Write "subscribes": ["<topic>"], or "triggers": [{"type": "stream", "streamName": "..."}].')
        step.input_schema = _schema(config.get("input"), name, "input")
    elif kind == "cron":
        try:
            step.cron = check_expression(config.get("cron"))
        except ValueError as exc:
            raise DefinitionError(
                "motia_django.E112", f"step {name!r}: bad cron: {exc}",
                'Write "cron": "*/5 * * * *" (minute hour day-of-month month day-of-week; a sixth field in front '
                "for seconds), or a macro such as \"@daily\".") from None
    return step


class StepRegistry(Registry[Step]):
    """All valid steps, and the problems found while loading them (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._by_topic: dict[str, list[Step]] = {}
        self._by_stream: dict[str, list[tuple[Step, StreamTrigger]]] = {}

    def collect(self, found: dict[str, Step], errors: list[checks.CheckMessage]) -> None:
        routes: dict[tuple[str, str], Step] = {}
        for origin, module in iter_configs(
            "_step", "step", errors,
            import_error=("motia_django.E100", "Fix the error above; this step is not registered until then."),
            no_config=("motia_django.E101", 'Define config = {"type": ..., "name": ...} and a handler.'),
        ):
            make = functools.partial(build_step, module.config, getattr(module, "handler", None), origin)
            step = self.build(make, origin, errors)
            if step is None or not self.unique(found, step, errors):
                continue
            if step.type == "api":
                key = (step.method, step.shape)
                if key in routes:
                    errors.append(checks.Error(
                        f"{origin}: {step.method} {step.path} is already served by step {routes[key].name!r} "
                        f"({routes[key].origin})",
                        hint="Give one of the steps another method or path.", id="motia_django.E110"))
                    continue
                routes[key] = step
            found[step.name] = step

    def duplicate(self, item: Step, other: Step) -> checks.CheckMessage:
        return checks.Error(f"{item.origin}: step name {item.name!r} is already used by {other.origin}",
                            hint="Step names must be unique: rename one of them.", id="motia_django.E109")

    def finish(self, found: dict[str, Step], errors: list[checks.CheckMessage]) -> None:
        steps = list(found.values())
        emitted = {t for s in steps for t in (*s.emits, *s.virtual_emits)}
        by_topic: dict[str, list[Step]] = {}
        for step in steps:
            for topic in step.subscribes:
                by_topic.setdefault(topic, []).append(step)
                if topic not in emitted:
                    errors.append(checks.Warning(
                        f"{step.origin}: step {step.name!r} subscribes to {topic!r}, which no step emits",
                        hint=f"Add {topic!r} to some step's emits (plain code may still emit() it).",
                        id="motia_django.W101"))
        self._by_topic = by_topic
        self._by_stream = {}
        for step in steps:
            for trigger in step.triggers:
                self._by_stream.setdefault(trigger.stream, []).append((step, trigger))
        record_changes_of(set(self._by_stream))

    @property
    def steps(self) -> list[Step]:
        return list(self._ensure().values())

    @property
    def api_steps(self) -> list[Step]:
        return [s for s in self.steps if s.type == "api"]

    @property
    def event_steps(self) -> list[Step]:
        return [s for s in self.steps if s.type == "event"]

    @property
    def cron_steps(self) -> list[Step]:
        return [s for s in self.steps if s.type == "cron"]

    def subscribers(self, topic: str) -> list[Step]:
        self._ensure()
        return list(self._by_topic.get(topic, []))

    def stream_triggers(self, stream: str) -> list[tuple[Step, StreamTrigger]]:
        """The (step, trigger) pairs watching ``stream``."""
        self._ensure()
        return list(self._by_stream.get(stream, []))


step_registry = StepRegistry()
