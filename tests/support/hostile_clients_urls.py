"""URLs of the hostile-clients live servers: the live test URLs, plus ``POST /test/fill/`` writing a group of
``count`` items of ``pad`` characters each in one request (a large group, quickly). Test-only."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from motia_django.stream.registry import streams
from tests.support.live_urls import urlpatterns as live_urlpatterns


@csrf_exempt
def fill(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    stream = streams[body["stream"]]
    for i in range(body["count"]):
        stream.set(body["group"], f"item-{i:05d}", {"n": i, "pad": "x" * body["pad"]})
    return JsonResponse({"result": body["count"]})


urlpatterns = [path("test/fill/", fill), *live_urlpatterns]
