"""What the workbench shows, as plain JSON-ready dicts: API steps by flow, streams, the flow graphs, events.

Both the server-rendered pages and the small JSON endpoints (``api.py``) read from here.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import os
import textwrap
from collections import defaultdict
from typing import Any

from django.urls import NoReverseMatch, reverse

from motia_django.models import CronSchedule, Event
from motia_django.steps.config import Step
from motia_django.steps.registry import step_registry
from motia_django.stream.registry import registry
from motia_django.stream.schema import Schema

__all__ = ["EVENT_STATUSES", "api_steps", "event_rows", "example_for", "flow_graph", "flow_graphs", "stream_rows",
           "stream_writes"]

NO_FLOW = "(no flow)"
EVENT_STATUSES = [choice.value for choice in Event.Status]


def _describe(schema: Schema | None) -> dict[str, Any] | None:
    return None if schema is None else schema.describe()


def example_for(schema: dict[str, Any] | None) -> Any:
    """A value that fits ``schema`` (defaults, examples, enums first), used to prefill request bodies."""
    if schema is None:
        return {}
    return _example(schema, schema, depth=0)


def _example(schema: Any, root: dict[str, Any], depth: int) -> Any:
    if not isinstance(schema, dict) or depth > 8:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _example(target, root, depth + 1)
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return _example((non_null or options)[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {name: _example(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return []
    return {"string": "string", "integer": 0, "number": 0, "boolean": False, "null": None}.get(kind or "")


def _step_dict(step: Step) -> dict[str, Any]:
    body = _describe(step.body_schema)
    return {
        "name": step.name,
        "type": step.type,
        "description": step.description,
        "flows": step.flows,
        "emits": step.emits,
        "virtualEmits": step.virtual_emits,
        "method": step.method,
        "path": step.path,
        "pathParams": step.path_params,
        "queryParams": [{"name": q["name"], "description": str(q.get("description", ""))} for q in step.query_params],
        "bodySchema": body,
        "bodyExample": json.dumps(example_for(body), indent=2, ensure_ascii=False) if body is not None else "",
        "responseSchema": {str(code): schema.describe() for code, schema in sorted(step.response_schema.items())},
        "origin": step.origin,
    }


def api_steps() -> list[dict[str, Any]]:
    """Every API step, each with its schemas and a prefilled body, grouped as ``[{flow, steps: [...]}]``."""
    by_flow: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for step in step_registry.api_steps:
        data = _step_dict(step)
        for flow in step.flows or [NO_FLOW]:
            by_flow[flow].append(data)
    return [{"flow": flow, "steps": by_flow[flow]} for flow in sorted(by_flow, key=lambda f: (f == NO_FLOW, f))]


def stream_rows() -> list[dict[str, Any]]:
    """Every registered stream with its schema and origin."""
    rows = []
    for name in registry.names():
        stream = registry.get(name)
        rows.append({
            "name": name,
            "schema": stream.schema.describe(),
            "origin": stream.origin,
            "storage": (stream.config.get("baseConfig") or {}).get("storageType", "default"),
        })
    return rows


def event_rows(*, status: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """The most recent emitted events (newest first), with a link to each in the admin when it is there."""
    queryset = Event.objects.order_by("-id")
    if status:
        queryset = queryset.filter(status=status)
    rows = []
    for event in queryset[:limit]:
        try:
            admin_url = reverse("admin:motia_django_event_change", args=[event.pk])
        except NoReverseMatch:
            admin_url = ""
        rows.append({
            "id": event.pk,
            "topic": event.topic,
            "step": event.step,
            "status": event.status,
            "attempts": event.attempts,
            "lastError": event.last_error,
            "traceId": event.trace_id,
            "emittedBy": event.emitted_by,
            "data": event.data,
            "createdAt": event.created_at.isoformat() if event.created_at else None,
            "created": event.created_at.strftime("%Y-%m-%d %H:%M:%S") if event.created_at else "",
            "updatedAt": event.updated_at.isoformat() if event.updated_at else None,
            "adminUrl": admin_url,
        })
    return rows


# --- the flow graphs -----------------------------------------------------------------------------------------

#: The stream methods that write (``send`` writes an ephemeral event to the stream's subscribers).
STREAM_WRITES = ("set", "delete", "update", "send", "clear")


def _next_runs(steps: list[Step]) -> dict[str, str]:
    """When each cron step runs next (from its schedule row; none before a runner has seen the step)."""
    names = [s.name for s in steps if s.type == "cron"]
    if not names:
        return {}
    rows = CronSchedule.objects.filter(step__in=names).values_list("step", "cron", "next_run_at")
    crons = {s.name: s.cron for s in steps}
    return {name: when.isoformat() for name, cron, when in rows if crons.get(name) == cron}


def _detail(step: Step) -> str:
    if step.type == "api":
        return f"{step.method} {step.path}"
    if step.type == "event":
        return "on " + ", ".join([*step.subscribes, *(f"stream {t.stream}" for t in step.triggers)])
    if step.type == "cron":
        return f"cron {step.cron}"
    return "noop"


def _step_source(step: Step) -> str:
    """The code that may write streams: the step's module file, else (a step built in code) its handler's."""
    if step.origin.endswith(".py") and os.path.isfile(step.origin):
        try:
            with open(step.origin, encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return ""
    if step.handler is None:
        return ""
    try:
        return textwrap.dedent(inspect.getsource(step.handler))
    except (OSError, TypeError):
        return ""


def _is_streams(node: ast.expr) -> bool:
    """``context.streams``, ``ctx.streams``, or the ``streams`` object imported from motia_django."""
    return (isinstance(node, ast.Attribute) and node.attr == "streams") or (
        isinstance(node, ast.Name) and node.id == "streams")


def _stream_name(node: ast.expr) -> str | None:
    """The stream a ``<streams>.name``, ``<streams>["name"]`` or ``getattr(<streams>, "name")`` names."""
    if isinstance(node, ast.Attribute) and _is_streams(node.value):
        return node.attr
    if isinstance(node, ast.Subscript) and _is_streams(node.value) and isinstance(node.slice, ast.Constant):
        return node.slice.value if isinstance(node.slice.value, str) else None
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and _is_streams(node.args[0]) and isinstance(node.args[1], ast.Constant)):
        return node.args[1].value if isinstance(node.args[1].value, str) else None
    return None


@functools.lru_cache(maxsize=512)
def _writes_in(source: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ()
    found: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STREAM_WRITES:
            name = _stream_name(node.func.value)
            if name:
                found[name].add(node.func.attr)
    return tuple((name, tuple(op for op in STREAM_WRITES if op in ops)) for name, ops in sorted(found.items()))


def stream_writes(step: Step) -> dict[str, list[str]]:
    """The registered streams a step writes and how: ``{"chatMessage": ["delete", "set"]}``.

    Read from the code, as the workbench cannot run it: calls ``<streams>.<name>.<method>(...)`` (also
    ``<streams>["name"]`` and ``getattr(<streams>, "name")``) in the step's module, where ``<streams>`` is
    ``context.streams`` (any ``.streams``) or the ``streams`` object, and the method is one of ``STREAM_WRITES``.
    Names that are not registered streams are left out.
    """
    known = set(registry.names())
    return {name: list(ops) for name, ops in _writes_in(_step_source(step)) if name in known}


def _step_node(step: Step, next_runs: dict[str, str]) -> dict[str, Any]:
    node: dict[str, Any] = {"id": f"step:{step.name}", "kind": step.type, "label": step.name,
                            "detail": _detail(step), "description": step.description, "flows": step.flows}
    if step.type == "cron":
        node.update(cron=step.cron, nextRun=next_runs.get(step.name))
    return node


def _flows_of(steps: list[Step]) -> list[str]:
    names = {f for s in steps for f in s.flows}
    return sorted(names) + ([NO_FLOW] if any(not s.flows for s in steps) else [])


def _in_flow(step: Step, flow: str) -> bool:
    return flow in step.flows if flow != NO_FLOW else not step.flows


def flow_graph(flow: str, *, next_runs: dict[str, str] | None = None) -> dict[str, Any]:
    """One flow as a directed graph: ``{"flow", "nodes", "edges"}``, not laid out (the page lays it out with ELK).

    Nodes (ids unique within the flow): the flow's steps (``step:<name>``, kind ``api``, ``event``, ``cron`` or
    ``noop``, with ``label``, ``detail``, ``description``, ``flows``; cron steps also ``cron`` and ``nextRun``),
    the streams they write or are triggered by (``stream:<name>``, kind ``stream``), and a topic only when one end
    of it lies outside the flow (``topic:<name>``, kind ``topic``: emitted with no subscriber in the flow, or
    subscribed with no emitter in it; ``detail`` names the other flows that have one).

    Edges ``{"id", "source", "target", "kind", "label", "virtual"}``: ``topic`` (emits -> subscribes, labelled by
    the emit's ``label`` or else the topic, and carrying ``topic``), ``stream`` (a step -> a stream it writes,
    labelled by the stream's name, with ``ops``: the methods used) and ``trigger`` (a stream -> a step its stream
    trigger runs, labelled by the stream's name). As in Motia, ``virtualEmits`` and ``virtualSubscribes`` give
    virtual (dashed) edges: flow outside the event queue (a human, another system), usually to or from a noop step.
    A step in two flows is drawn in both. ``flow`` ``"(no flow)"`` is the steps that name no flow.
    """
    graph = _FlowGraph(flow)
    if next_runs is None:
        next_runs = _next_runs(graph.steps)
    graph.nodes.update({f"step:{s.name}": _step_node(s, next_runs) for s in graph.steps})
    graph.add_topic_edges()
    graph.add_stream_edges()
    return {"flow": flow, "nodes": list(graph.nodes.values()), "edges": graph.edges}


class _FlowGraph:
    """The nodes and edges of one flow while ``flow_graph()`` builds it (edge ids number them in order)."""

    def __init__(self, flow: str) -> None:
        self.flow = flow
        self.every = sorted(step_registry.steps, key=lambda s: s.name)
        self.steps = [s for s in self.every if _in_flow(s, flow)]
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, Any]] = []

    def edge(self, source: str, target: str, kind: str, label: str, virtual: bool = False, **extra: Any) -> None:
        self.edges.append({"id": f"e{len(self.edges)}", "source": source, "target": target, "kind": kind,
                           "label": label, "virtual": virtual, **extra})

    def other_flows(self, topic: str, emitting: bool) -> list[str]:
        ends = [s for s in self.every if not _in_flow(s, self.flow) and topic in (
            [*s.emits, *s.virtual_emits] if emitting else [*s.subscribes, *s.virtual_subscribes])]
        return sorted({f for s in ends for f in s.flows or [NO_FLOW]})

    def topic_node(self, topic: str, emitting: bool) -> str:
        node_id = f"topic:{topic}"
        if node_id not in self.nodes:
            flows = self.other_flows(topic, emitting)
            where = ("emitted in " if emitting else "subscribed in ") + ", ".join(flows) if flows else (
                "no emitter" if emitting else "no subscriber")
            self.nodes[node_id] = {"id": node_id, "kind": "topic", "label": topic, "detail": f"topic · {where}",
                                   "description": "", "flows": flows}
        return node_id

    def stream_node(self, name: str) -> str:
        node_id = f"stream:{name}"
        self.nodes.setdefault(node_id, {"id": node_id, "kind": "stream", "label": name, "detail": "stream",
                                        "description": "", "flows": [self.flow]})
        return node_id

    def add_topic_edges(self) -> None:
        """emits -> subscribes inside the flow; a topic node for an end outside it."""
        subscribers: dict[str, list[tuple[Step, bool]]] = defaultdict(list)
        for step in self.steps:
            for topic in step.subscribes:
                subscribers[topic].append((step, False))
            for topic in step.virtual_subscribes:
                subscribers[topic].append((step, True))
        emitted: set[str] = set()
        for step in self.steps:
            for topics, virtual in ((step.emits, False), (step.virtual_emits, True)):
                for topic in topics:
                    emitted.add(topic)
                    label = step.labels.get(topic) or topic
                    receivers = subscribers.get(topic, [])
                    for receiver, virtual_in in receivers:
                        self.edge(f"step:{step.name}", f"step:{receiver.name}", "topic", label,
                                  virtual or virtual_in, topic=topic)
                    if not receivers:
                        self.edge(f"step:{step.name}", self.topic_node(topic, emitting=False), "topic", label,
                                  virtual, topic=topic)
        for topic, receivers in subscribers.items():
            if topic not in emitted:
                for receiver, virtual in receivers:
                    self.edge(self.topic_node(topic, emitting=True), f"step:{receiver.name}", "topic", topic,
                              virtual, topic=topic)

    def add_stream_edges(self) -> None:
        """A step -> each stream it writes; a stream -> each step its trigger runs."""
        for step in self.steps:
            for stream, ops in stream_writes(step).items():
                self.edge(f"step:{step.name}", self.stream_node(stream), "stream", stream, stream=stream, ops=ops)
            for trigger in step.triggers:
                self.edge(self.stream_node(trigger.stream), f"step:{step.name}", "trigger", trigger.stream,
                          stream=trigger.stream)


def flow_graphs(flow: str = "") -> dict[str, Any]:
    """``{"flow", "flows", "graphs"}``: ``flow_graph()`` of every flow (``"(no flow)"`` last, when some step names
    none), or of ``flow`` alone; ``flows`` names them all (for the page's filter)."""
    steps = step_registry.steps
    flows = _flows_of(steps)
    next_runs = _next_runs(steps)
    chosen = [flow] if flow else flows
    return {"flow": flow, "flows": flows, "graphs": [flow_graph(f, next_runs=next_runs) for f in chosen]}
