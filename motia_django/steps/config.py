"""Step configs: a ``*_step.py`` module's ``config`` dict and ``handler``, checked and turned into a ``Step``.

``Step``: ``name``, ``type`` ("api", "event", "cron" or "noop"), ``description``, ``flows``, ``emits``,
``virtual_emits`` and ``virtual_subscribes`` (topic names), ``labels`` (topic -> label, from Motia's
``{"topic", "label"}`` entries), ``path`` (Motia syntax, ``/chat-messages/:channelId``), ``path_params``,
``method``, ``body_schema`` (a compiled ``motia_django.stream.schema.Schema`` or None), ``response_schema``
(``{status: Schema}``), ``query_params`` (``[{"name", "description"}]``), ``subscribes``, ``triggers``,
``input_schema``, ``cron`` (the expression of a cron step), ``handler``, ``is_async``, ``origin`` (the file),
``config`` (the module's dict, untouched).

Every mistake is a ``DefinitionError`` with its own check id (docs/reference/checks.md), which the step
registry reports as a system check naming the file.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.module_loading import import_string

from motia_django import compat
from motia_django.exceptions import DefinitionError, SchemaDefinitionError
from motia_django.steps.cron import check_expression
from motia_django.steps.triggers import StreamTrigger, parse_triggers
from motia_django.stream.schema import Schema, compile_schema

__all__ = ["HTTP_METHODS", "STEP_TYPES", "Step", "build_step", "path_shape"]

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
    timeout: float | None = None  # seconds an event or cron step's attempt may run (None: EVENT_TIMEOUT_SECONDS)

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


# --- the parts of a config ------------------------------------------------------------------------------------


def _strings(config: dict[str, Any], key: str, name: str, *, topics: bool = False) -> list[str]:
    """A list of strings; for emits, Motia's ``{"topic": ..., "label": ...}`` entries are accepted too."""
    value = config.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise DefinitionError("motia_django.E116", f"step {name!r}: {key} must be a list", f'Write "{key}": ["..."].')
    out: list[str] = []
    for entry in value:
        if topics and isinstance(entry, dict):
            entry = entry.get("topic")
        if not isinstance(entry, str) or not entry:
            raise DefinitionError(
                "motia_django.E116", f"step {name!r}: {key} has an entry that is not a non-empty string",
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
                              "Give a JSON Schema dict, a pydantic model class, or Model.model_json_schema().",
                              ) from None


def _classes(config: dict[str, Any], keys: tuple[str, str], name: str) -> list[Any] | None:
    value = config.get(keys[0], config.get(keys[1]))
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise DefinitionError("motia_django.E111", f"step {name!r}: {keys[0]} must be a list",
                              "Give DRF classes or their dotted paths, e.g. "
                              "['rest_framework.permissions.IsAuthenticated'].")
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


def _method(value: Any, name: str) -> str:
    if not isinstance(value, str) or value.upper() not in HTTP_METHODS:
        raise DefinitionError("motia_django.E114", f"step {name!r}: method must be one of {', '.join(HTTP_METHODS)}, "
                              f"got {value!r}", 'Write "method": "POST".')
    return value.upper()


def _responses(value: Any, name: str) -> dict[int, Schema]:
    if not isinstance(value, dict):
        raise DefinitionError("motia_django.E115", f"step {name!r}: responseSchema must map status codes to schemas",
                              'Write "responseSchema": {200: {...}}.')
    found: dict[int, Schema] = {}
    for status, schema in value.items():
        try:
            code = int(status)
        except (TypeError, ValueError):
            raise DefinitionError("motia_django.E115", f"step {name!r}: responseSchema key {status!r} is not a status",
                                  "Use HTTP status codes (200, 201, ...) as keys.") from None
        compiled = _schema(schema, name, f"responseSchema[{status!r}]")
        if compiled is not None:
            found[code] = compiled
    return found


def _query_params(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(q, dict) and isinstance(q.get("name"), str) for q in value):
        raise DefinitionError("motia_django.E117",
                              f"step {name!r}: queryParams must be a list of {{name, description}}",
                              'Write "queryParams": [{"name": "limit", "description": "..."}].')
    return list(value)


# --- one step ---------------------------------------------------------------------------------------------------


def _identity(config: Any, handler: Any) -> tuple[str, str]:
    """The step's name and type, and that it has what every step of that type needs."""
    if not isinstance(config, dict):
        raise DefinitionError("motia_django.E101", f"config must be a dict, got {type(config).__name__}",
                              'Define config = {"type": "api", "name": ..., ...} at module level.')
    name = config.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError("motia_django.E103", "step has no name",
                              'Add "name": "<StepName>" (unique in the project).')
    kind = config.get("type")
    if kind not in STEP_TYPES:
        raise DefinitionError("motia_django.E102", f"step {name!r}: unknown type {kind!r}",
                              f"Use one of: {', '.join(STEP_TYPES)}.")
    if kind != "noop" and not callable(handler):
        raise DefinitionError("motia_django.E104", f"step {name!r}: the module has no callable handler",
                              "Define handler(req, context) for api steps, handler(input, context) for event steps or "
                              "handler(context) for cron steps (def or async def).")
    if not isinstance(config.get("description", ""), str):
        raise DefinitionError("motia_django.E108", f"step {name!r}: description must be a string", "Use a string.")
    return name, kind


def _api(step: Step, config: dict[str, Any]) -> None:
    name = step.name
    step.path_params = _parse_path(config.get("path"), name)
    step.path = "/" + config["path"].strip("/")
    step.method = _method(config.get("method"), name)
    step.body_schema = _schema(config.get("bodySchema"), name, "bodySchema")
    step.response_schema = _responses(config.get("responseSchema") or {}, name)
    step.query_params = _query_params(config.get("queryParams") or [], name)
    step.authentication_classes = _classes(config, ("authentication_classes", "authenticationClasses"), name)
    step.permission_classes = _classes(config, ("permission_classes", "permissionClasses"), name)


def _timeout(config: dict[str, Any], name: str) -> float | None:
    value = config.get("timeout")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
        raise DefinitionError("motia_django.E119", f"step {name!r}: timeout must be a positive number of seconds, "
                              f"got {value!r}",
                              'Write "timeout": 60, or leave it out (MOTIA["EVENT_TIMEOUT_SECONDS"]).')
    return None if value is None else float(value)


def _event(step: Step, config: dict[str, Any]) -> None:
    step.subscribes = _strings(config, "subscribes", step.name)
    step.triggers = parse_triggers(config.get("triggers"), step.name)
    if not step.subscribes and not step.triggers:
        raise DefinitionError("motia_django.E107", f"step {step.name!r}: an event step needs subscribes or triggers",
                              'Write "subscribes": ["<topic>"], or "triggers": [{"type": "stream", "streamName": '
                              '"..."}].')
    step.input_schema = _schema(config.get("input"), step.name, "input")
    step.timeout = _timeout(config, step.name)


def _cron(step: Step, config: dict[str, Any]) -> None:
    step.timeout = _timeout(config, step.name)
    if compat.croniter is None:
        raise DefinitionError(
            "motia_django.E120", f"step {step.name!r}: {compat.missing_extra('a cron step', 'cron')}",
            'Install it (pip install "motia-django[cron]": croniter reads the expressions), or remove the step.')
    try:
        step.cron = check_expression(config.get("cron"))
    except ValueError as exc:
        raise DefinitionError(
            "motia_django.E112", f"step {step.name!r}: bad cron: {exc}",
            'Write "cron": "*/5 * * * *" (minute hour day-of-month month day-of-week; a sixth field in front '
            "for seconds), or a macro such as \"@daily\".") from None


_BY_TYPE: dict[str, Callable[[Step, dict[str, Any]], None]] = {"api": _api, "event": _event, "cron": _cron}


def build_step(config: Any, handler: Any, origin: str) -> Step:
    """Build and check one ``Step`` from a module's ``config`` and ``handler``."""
    name, kind = _identity(config, handler)
    step = Step(
        name=name, type=kind, handler=handler if kind != "noop" else None, origin=origin, config=config,
        description=config.get("description", ""),
        flows=_strings(config, "flows", name),
        emits=_strings(config, "emits", name, topics=True),
        virtual_emits=_strings(config, "virtualEmits", name, topics=True),
        virtual_subscribes=_strings(config, "virtualSubscribes", name, topics=True),
        labels=_labels(config, "emits", "virtualEmits"),
    )
    complete = _BY_TYPE.get(kind)
    if complete is not None:
        complete(step, config)
    return step
