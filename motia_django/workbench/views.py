"""The workbench pages: server-rendered; ``static/motia_django/workbench/workbench.js`` adds the live parts."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from motia_django.exceptions import MotiaError
from motia_django.steps.registry import step_registry
from motia_django.stream.registry import registry
from motia_django.workbench import catalog
from motia_django.workbench.access import may_read, workbench_view

__all__ = ["endpoints", "events", "flows", "streams"]

PAGES = [("endpoints", "Endpoints"), ("streams", "Streams"), ("flows", "Flows"), ("events", "Events")]


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def _render(request: HttpRequest, page: str, context: dict[str, Any], *, live: bool = False) -> HttpResponse:
    nav = [(key, label, reverse(f"motia_workbench:{key}")) for key, label in PAGES]
    title = dict(PAGES)[page]
    return render(request, f"motia_django/workbench/{page}.html",
                  {"page": page, "page_title": title, "nav": nav, "live": live, **context})


def _messages(errors: list[Any]) -> list[dict[str, str]]:
    return [{"id": e.id or "", "msg": e.msg, "hint": e.hint or ""} for e in errors]


@workbench_view()
@ensure_csrf_cookie  # the Test button sends the token, for steps behind session authentication
def endpoints(request: HttpRequest) -> HttpResponse:
    """Every API step by flow, with a form to try it and a live view of a returned stream item."""
    groups = catalog.api_steps()
    steps: dict[str, dict[str, Any]] = {}
    for group in groups:
        for step in group["steps"]:
            step["bodySchemaText"] = _pretty(step["bodySchema"]) if step["bodySchema"] is not None else ""
            step["responseSchemaText"] = _pretty(step["responseSchema"]) if step["responseSchema"] else ""
            step["bodyRows"] = min(max(step["bodyExample"].count("\n") + 2, 4), 18)
            steps.setdefault(step["name"], step)
    return _render(request, "endpoints", {"groups": groups, "steps": list(steps.values()),
                                          "step_errors": _messages(step_registry.errors)}, live=True)


@workbench_view()
def streams(request: HttpRequest) -> HttpResponse:
    """Every stream with its schema; its groups; a group's items, kept live over the stream WebSocket."""
    rows = catalog.stream_rows()
    name = request.GET.get("stream") or (rows[0]["name"] if rows else "")
    selected = next((r for r in rows if r["name"] == name), None)
    group_id = request.GET.get("group", "").strip()
    groups: list[str] = []
    items: list[dict[str, Any]] = []
    error = ""
    if selected is not None:
        selected["schemaText"] = _pretty(selected["schema"])
        stream = registry.get(selected["name"])
        try:
            groups = sorted(g for g in stream.list_groups() if may_read(request, stream, g))
        except NotImplementedError:
            error = "This stream's storage cannot list its groups: type a group id to subscribe to it."
        try:
            if group_id and not may_read(request, stream, group_id):
                error = "The stream's access does not allow you this group."
            elif group_id:
                items = [{"id": item["id"], "text": _pretty(item)} for item in stream.get_group(group_id)]
        except MotiaError as exc:
            error = str(exc)
    return _render(request, "streams", {
        "streams": rows, "selected": selected, "groups": groups, "group_id": group_id, "items": items,
        "error": error, "stream_errors": _messages(registry.errors),
    }, live=selected is not None and bool(group_id))


@workbench_view()
def flows(request: HttpRequest) -> HttpResponse:
    """Each flow as a directed graph (steps and the streams they write; edges labelled by topic or stream), laid
    out in the browser by ELK; also listed as text. Cron schedules are read in ``TIME_ZONE``."""
    data = catalog.flow_graphs(request.GET.get("flow", ""))
    panels = []
    for graph in data["graphs"]:
        labels = {node["id"]: node["label"] for node in graph["nodes"]}
        panels.append({
            "graph": graph,
            "steps": [node for node in graph["nodes"] if node["kind"] not in ("stream", "topic")],
            "edges": [{**edge, "sourceLabel": labels[edge["source"]], "targetLabel": labels[edge["target"]]}
                      for edge in graph["edges"]],
        })
    return _render(request, "flows", {"flow": data["flow"], "flows": data["flows"], "panels": panels,
                                      "time_zone": settings.TIME_ZONE})


@workbench_view()
def events(request: HttpRequest) -> HttpResponse:
    """The most recent emitted events with their status, attempts and last error."""
    status = request.GET.get("status", "")
    if status not in catalog.EVENT_STATUSES:
        status = ""
    try:
        admin_url = reverse("admin:motia_django_event_changelist")
    except NoReverseMatch:
        admin_url = ""
    return _render(request, "events", {"events": catalog.event_rows(status=status), "status": status,
                                       "statuses": catalog.EVENT_STATUSES, "admin_url": admin_url})
