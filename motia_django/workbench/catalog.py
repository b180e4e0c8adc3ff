"""What the workbench shows, as plain JSON-ready dicts: API steps by flow, streams, the flow graph, events.

Both the server-rendered pages and the small JSON endpoints (``api.py``) read from here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from django.urls import NoReverseMatch, reverse

from motia_django.models import CronSchedule, Event
from motia_django.steps.config import Step
from motia_django.steps.registry import step_registry
from motia_django.stream.registry import registry
from motia_django.stream.schema import Schema

__all__ = ["EVENT_STATUSES", "api_steps", "event_rows", "example_for", "flow_graph", "stream_rows"]

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


# --- the flow graph ------------------------------------------------------------------------------------------

COLUMN_WIDTH, ROW_HEIGHT, NODE_WIDTH, NODE_HEIGHT, MARGIN = 250, 78, 200, 50, 20


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


def _graph(steps: list[Step]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The flow's nodes (steps, and topics as nodes of their own) and edges, not yet placed."""
    next_runs = _next_runs(steps)
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    for step in steps:
        node: dict[str, Any] = {"id": f"step:{step.name}", "kind": step.type, "label": step.name,
                                "detail": _detail(step), "description": step.description, "flows": step.flows}
        if step.type == "cron":
            node.update(cron=step.cron, nextRun=next_runs.get(step.name))
        nodes[node["id"]] = node

    def topic_node(topic: str) -> str:
        return nodes.setdefault(f"topic:{topic}", {"id": f"topic:{topic}", "kind": "topic", "label": topic,
                                                   "detail": "topic", "description": "", "flows": []})["id"]

    for step in steps:
        for topics, virtual in ((step.emits, False), (step.virtual_emits, True)):
            for topic in topics:
                edges.append({"source": f"step:{step.name}", "target": topic_node(topic), "virtual": virtual,
                              "label": step.labels.get(topic, "")})
        for topics, virtual in ((step.subscribes, False), (step.virtual_subscribes, True)):
            for topic in topics:
                edges.append({"source": topic_node(topic), "target": f"step:{step.name}", "virtual": virtual,
                              "label": ""})
        for trigger in step.triggers:  # a stream trigger: the stream's changes, drawn as a topic node
            edges.append({"source": topic_node(trigger.topic), "target": f"step:{step.name}", "virtual": False,
                          "label": "changes"})
    return nodes, edges


def _columns(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Nodes by column: the longest path from the sources (bounded, so a cycle cannot loop forever)."""
    layer = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):
        changed = False
        for edge in edges:
            if layer[edge["target"]] < layer[edge["source"]] + 1:
                layer[edge["target"]] = layer[edge["source"]] + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = defaultdict(list)
    for node_id in sorted(nodes, key=lambda n: (nodes[n]["kind"] not in ("api", "cron"), nodes[n]["label"].lower())):
        columns[layer[node_id]].append(node_id)
    return columns


def _place(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]], columns: dict[int, list[str]]) -> None:
    """SVG coordinates for the nodes, and each edge's path and label position."""
    for col, ids in columns.items():
        for row, node_id in enumerate(ids):
            nodes[node_id].update(x=MARGIN + col * COLUMN_WIDTH, y=MARGIN + row * ROW_HEIGHT,
                                  w=NODE_WIDTH, h=NODE_HEIGHT)
    for edge in edges:
        a, b = nodes[edge["source"]], nodes[edge["target"]]
        x1, y1 = a["x"] + NODE_WIDTH, a["y"] + NODE_HEIGHT // 2
        x2, y2 = b["x"], b["y"] + NODE_HEIGHT // 2
        if x2 <= x1:  # a back edge (cycle): loop around below
            edge["d"] = f"M{x1},{y1} C{x1 + 60},{y1 + 90} {x2 - 60},{y2 + 90} {x2},{y2}"
            edge.update(lx=(x1 + x2) // 2, ly=max(y1, y2) + 60)
        else:
            mid = (x1 + x2) // 2
            edge["d"] = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
            edge.update(lx=mid, ly=(y1 + y2) // 2 - 4)


def flow_graph(flow: str = "") -> dict[str, Any]:
    """Steps and topics as a layered graph (step -> topic it emits -> step subscribing), with SVG coordinates.

    ``flow`` keeps only the steps of that flow (and the topics they touch). Nodes: ``{id, kind, label, detail,
    flows, x, y}`` (kind: api, event, cron, noop or topic; cron nodes also have ``cron`` and ``nextRun``); edges:
    ``{source, target, virtual, label, d}`` where ``d`` is an SVG path. As in Motia, ``virtualEmits`` and
    ``virtualSubscribes`` are drawn as virtual (dashed) edges: flow that happens outside the event queue (a
    human, another system), typically to or from a noop step.
    """
    nodes, edges = _graph([s for s in step_registry.steps if not flow or flow in s.flows])
    columns = _columns(nodes, edges)
    _place(nodes, edges, columns)
    rows = max((len(ids) for ids in columns.values()), default=0)
    return {
        "flow": flow,
        "flows": sorted({f for s in step_registry.steps for f in s.flows}),
        "nodes": list(nodes.values()),
        "edges": edges,
        "width": MARGIN * 2 + max(len(columns), 1) * COLUMN_WIDTH,
        "height": MARGIN * 2 + max(rows, 1) * ROW_HEIGHT,
    }
