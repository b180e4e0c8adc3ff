"""Small read-only JSON endpoints behind the workbench pages (same access rules as the pages)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from motia_django.exceptions import MotiaError, StreamNotFound
from motia_django.stream.registry import registry
from motia_django.workbench import catalog
from motia_django.workbench.access import may_read, workbench_view

__all__ = ["event_list", "flow_graph", "group_items", "step_list", "stream_groups", "stream_list"]


@workbench_view(json=True)
def step_list(request: HttpRequest) -> JsonResponse:
    """``{"flows": [{"flow", "steps": [...]}]}``: the API steps by flow, with schemas and example bodies."""
    return JsonResponse({"flows": catalog.api_steps()})


@workbench_view(json=True)
def stream_list(request: HttpRequest) -> JsonResponse:
    """``{"streams": [{"name", "schema", "origin", "storage"}]}``."""
    return JsonResponse({"streams": catalog.stream_rows()})


@workbench_view(json=True)
def stream_groups(request: HttpRequest, name: str) -> JsonResponse:
    """``{"stream", "groups": [...]}``: the group ids that hold items."""
    try:
        stream = registry.get(name)
        groups = stream.list_groups()
    except StreamNotFound as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    except NotImplementedError as exc:
        return JsonResponse({"error": str(exc)}, status=501)
    return JsonResponse({"stream": name, "groups": sorted(g for g in groups if may_read(request, stream, g))})


@workbench_view(json=True)
def group_items(request: HttpRequest, name: str, group_id: str) -> JsonResponse:
    """``{"stream", "groupId", "items": [...]}``: the group's items in creation order."""
    try:
        stream = registry.get(name)
        if not may_read(request, stream, group_id):
            return JsonResponse({"error": "The stream's access does not allow you this group."}, status=403)
        items = stream.get_group(group_id)
    except StreamNotFound as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    except MotiaError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"stream": name, "groupId": group_id, "items": items})


@workbench_view(json=True)
def event_list(request: HttpRequest) -> JsonResponse:
    """``{"events": [...]}``: recent events, newest first; ``?status=`` filters, ``?limit=`` (max 500) caps."""
    status = request.GET.get("status", "")
    if status and status not in catalog.EVENT_STATUSES:
        return JsonResponse({"error": f"unknown status {status!r}", "statuses": catalog.EVENT_STATUSES}, status=400)
    try:
        limit = min(max(int(request.GET.get("limit", "100")), 1), 500)
    except ValueError:
        return JsonResponse({"error": "limit must be an integer"}, status=400)
    return JsonResponse({"events": catalog.event_rows(status=status, limit=limit)})


@workbench_view(json=True)
def flow_graph(request: HttpRequest) -> JsonResponse:
    """``{"flow", "flows", "graphs": [{"flow", "nodes", "edges"}]}``: one graph per flow (``?flow=`` keeps one)."""
    return JsonResponse(catalog.flow_graphs(request.GET.get("flow", "")))
