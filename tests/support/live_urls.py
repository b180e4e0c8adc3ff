"""URLs of live test servers: the example project's, plus helpers tests use to write from inside the server.

``POST /test/realtime/<op>/`` with a JSON body runs one write in the server process, so end-to-end tests can
check every write path reaches WebSocket clients. Test-only: never route these in a real project.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from example_project.urls import urlpatterns as example_urlpatterns
from motia_django.models import StreamItem
from motia_django.stream.items import now_ms
from motia_django.stream.registry import streams


class RolledBack(Exception):
    pass


def _set(b: dict[str, Any]) -> Any:
    return streams[b["stream"]].set(b["group"], b["id"], b["data"])


def _update(b: dict[str, Any]) -> Any:
    return streams[b["stream"]].update(b["group"], b["id"], b["ops"])


def _delete(b: dict[str, Any]) -> Any:
    return streams[b["stream"]].delete(b["group"], b["id"])


def _send(b: dict[str, Any]) -> Any:
    return streams[b["stream"]].send(b["channel"], b["event"])


def _orm_save(b: dict[str, Any]) -> Any:
    item = StreamItem.objects.filter(stream=b["stream"], group_id=b["group"], item_id=b["id"]).first()
    item = item or StreamItem(stream=b["stream"], group_id=b["group"], item_id=b["id"])
    item.data = b["data"]
    item.save()
    return item.as_item()


def _orm_delete(b: dict[str, Any]) -> Any:
    StreamItem.objects.get(stream=b["stream"], group_id=b["group"], item_id=b["id"]).delete()
    return None


def _rollback(b: dict[str, Any]) -> Any:
    try:
        with transaction.atomic():
            _set(b)
            raise RolledBack
    except RolledBack:
        return {"rolled_back": True}


def _same_ms(b: dict[str, Any]) -> Any:
    """Two writes to one item in the same millisecond (the clock is frozen for both)."""
    frozen = now_ms()
    with mock.patch("motia_django.stream.items.time_ns", lambda: frozen * 1_000_000):
        first = streams[b["stream"]].set(b["group"], b["id"], b["data"][0])
        second = streams[b["stream"]].set(b["group"], b["id"], b["data"][1])
    return [first, second]


def _send_many(b: dict[str, Any]) -> Any:
    for _ in range(b["count"]):
        streams[b["stream"]].send(b["channel"], b["event"])
    return b["count"]


OPS = {"set": _set, "update": _update, "delete": _delete, "send": _send, "orm_save": _orm_save,
       "orm_delete": _orm_delete, "rollback": _rollback, "same_ms": _same_ms, "send_many": _send_many}


@csrf_exempt
def realtime_write(request: HttpRequest, op: str) -> HttpResponse:
    if request.method != "POST" or op not in OPS:
        return JsonResponse({"error": "POST one of " + ", ".join(OPS)}, status=400)
    return JsonResponse({"result": OPS[op](json.loads(request.body))})


urlpatterns = [
    path("test/realtime/<str:op>/", realtime_write),
    *example_urlpatterns,
]
