"""motia_django.steps.handler: which middleware API steps run through (``api_middleware``) and the lean handler
built from it (``StepsHandler``: Django's own middleware inline, others adapted, limits before the body)."""

from __future__ import annotations

import json
import threading

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.http import HttpResponse
from django.test import AsyncRequestFactory
from django.urls import path
from django.utils.decorators import async_only_middleware, sync_only_middleware
from rest_framework.response import Response
from rest_framework.views import APIView

from motia_django.steps.handler import INLINE, InlineRun, OnTheLoop, SessionOnTheLoop, StepsHandler, api_middleware

HERE = __name__
SECURITY = "django.middleware.security.SecurityMiddleware"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
COMMON = "django.middleware.common.CommonMiddleware"
FRAMES = "django.middleware.clickjacking.XFrameOptionsMiddleware"
threads: list[str] = []


@async_only_middleware
def native(get_response):
    async def middleware(request):
        response = await get_response(request)
        response["x-native"] = "yes"
        return response

    return middleware


@sync_only_middleware
def sync_only(get_response):
    def middleware(request):
        threads.append(threading.current_thread().name)
        response = get_response(request)
        response["x-sync"] = "yes"
        return response

    return middleware


def neither(get_response):
    return get_response


neither.sync_capable = False
neither.async_capable = False


def returns_none(get_response):
    return None


@async_only_middleware
def async_returns_none(get_response):
    return None


def not_used(get_response):
    raise MiddlewareNotUsed


async def _ping(request):
    return HttpResponse(b"pong")


async def _echo(request):
    return HttpResponse(request.body)


class _Data(APIView):
    authentication_classes = permission_classes = ()

    def post(self, request):
        return Response({"data": request.data, "length": request.META.get("CONTENT_LENGTH")})


urlpatterns = [path("ping", _ping), path("echo", _echo), path("data", _Data.as_view())]


# --- api_middleware ------------------------------------------------------------------------------------------


def test_default_is_the_projects_middleware(settings):
    settings.MIDDLEWARE = [SECURITY, SESSIONS, f"{HERE}.native"]
    assert api_middleware() == [SECURITY, SESSIONS, f"{HERE}.native"]


def test_exclude_opts_entries_out(settings):
    settings.MIDDLEWARE = [SECURITY, SESSIONS, COMMON]
    settings.MOTIA = {"API_MIDDLEWARE_EXCLUDE": [SESSIONS, "not.in.the.list"]}
    assert api_middleware() == [SECURITY, COMMON]


def test_the_setting_replaces_middleware_and_exclude_still_applies(settings):
    settings.MIDDLEWARE = [SECURITY]
    settings.MOTIA = {"API_MIDDLEWARE": (COMMON, f"{HERE}.native")}
    assert api_middleware() == [COMMON, f"{HERE}.native"]
    settings.MOTIA = {"API_MIDDLEWARE": [COMMON, f"{HERE}.native"], "API_MIDDLEWARE_EXCLUDE": [COMMON]}
    assert api_middleware() == [f"{HERE}.native"]
    settings.MOTIA = {"API_MIDDLEWARE": []}  # none, whatever MIDDLEWARE says
    assert api_middleware() == []


# --- StepsHandler --------------------------------------------------------------------------------------------


def handler(settings, *middleware: str) -> StepsHandler:
    settings.ROOT_URLCONF = HERE
    settings.MOTIA = {"API_MIDDLEWARE": list(middleware)}
    return StepsHandler()


def test_django_middleware_runs_inline_and_others_as_given(settings):
    steps = handler(settings, SECURITY, SESSIONS, f"{HERE}.native")
    assert {SECURITY, SESSIONS} <= INLINE
    chain = []
    layer = steps._middleware_chain
    while layer is not None:  # each layer is convert_exception_to_response(...) of the next
        inner = getattr(layer, "__wrapped__", None)
        chain.append(inner)
        layer = getattr(inner, "get_response", None)
    assert type(chain[0]) is InlineRun  # the two inline ones, as one link
    assert [type(layer) for layer in chain[0].layers] == [OnTheLoop, SessionOnTheLoop]
    assert type(chain[0].layers[0].instance).__name__ == "SecurityMiddleware"
    assert chain[1].__name__ == "middleware"  # the native one, called as it is


def test_inline_middleware_on_either_side_of_another_makes_two_runs(settings):
    steps = handler(settings, SECURITY, f"{HERE}.native", FRAMES)
    outer = steps._middleware_chain.__wrapped__
    native = outer.get_response.__wrapped__
    inner = native.__closure__[0].cell_contents.__wrapped__  # native's get_response
    assert type(outer) is InlineRun and type(inner) is InlineRun
    assert [type(layer.instance).__name__ for layer in (*outer.layers, *inner.layers)] == [
        "SecurityMiddleware", "XFrameOptionsMiddleware"]


@pytest.mark.parametrize(("entry", "message"), [
    ("neither", "is neither sync- nor async-capable"),
    ("async_returns_none", "returned None"),
])
def test_middleware_django_would_refuse_is_improperly_configured(settings, entry, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        handler(settings, f"{HERE}.native", f"{HERE}.{entry}")


def test_a_sync_factory_returning_none_is_improperly_configured(settings):
    with pytest.raises(ImproperlyConfigured, match="returned None"):
        handler(settings, f"{HERE}.returns_none")


async def test_the_chosen_middleware_runs_around_the_view(settings):
    steps = handler(settings, SECURITY, f"{HERE}.native", FRAMES)
    response = await steps.get_response_async(AsyncRequestFactory().get("/ping"))
    assert response.status_code == 200 and response.content == b"pong"
    assert response["x-native"] == "yes"
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"


async def test_middleware_left_out_does_not_run(settings):
    settings.MIDDLEWARE = [FRAMES]
    settings.MOTIA = {"API_MIDDLEWARE_EXCLUDE": [FRAMES]}
    settings.ROOT_URLCONF = HERE
    response = await StepsHandler().get_response_async(AsyncRequestFactory().get("/ping"))
    assert "X-Frame-Options" not in response


async def test_sync_only_middleware_is_adapted_into_a_thread(settings):
    threads.clear()
    steps = handler(settings, f"{HERE}.sync_only")
    response = await steps.get_response_async(AsyncRequestFactory().get("/ping"))
    assert response["x-sync"] == "yes"
    assert threads and threads[0] != threading.current_thread().name


async def test_middleware_not_used_is_skipped(settings):
    steps = handler(settings, f"{HERE}.not_used", f"{HERE}.native")
    response = await steps.get_response_async(AsyncRequestFactory().get("/ping"))
    assert response["x-native"] == "yes"


# --- requests through the ASGI interface ----------------------------------------------------------------------


async def call(steps: StepsHandler, method: str = "GET", headers: list | None = None, body: bytes | list[bytes] = b"",
               path: str = "/ping") -> tuple[dict, bytes]:
    """One request; a list ``body`` arrives in that many messages."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "headers": [(b"host", b"localhost"), *(headers or [])], "client": ("127.0.0.1", 1),
             "server": ("localhost", 80)}
    app = ApplicationCommunicator(steps, scope)
    chunks = body if isinstance(body, list) else [body]
    for n, chunk in enumerate(chunks, 1):
        await app.send_input({"type": "http.request", "body": chunk, "more_body": n < len(chunks)})
    start = await app.receive_output(5)
    content = b""
    while True:
        message = await app.receive_output(5)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    await app.wait(5)
    return start, content


async def test_a_request_is_answered(settings):
    start, content = await call(handler(settings))
    assert start["status"] == 200 and content == b"pong"


async def test_head_has_the_gets_headers_and_no_body(settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    start, content = await call(handler(settings), method="HEAD")
    assert start["status"] == 200 and content == b""


async def test_a_declared_body_too_large_is_413_before_reading_it(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    start, content = await call(handler(settings), method="POST", headers=[(b"content-length", b"11")],
                                body=b"x" * 11)
    assert start["status"] == 413 and content == b'{"error":"Request body too large"}'


async def test_a_body_that_grows_too_large_is_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    start, _ = await call(handler(settings), method="POST", body=b"x" * 11)  # no content-length
    assert start["status"] == 413


@pytest.mark.parametrize("chunks", [
    [b"small"],  # one message: read without a spooled file
    [b"sm", b"", b"all"],
    [b"x" * 40],  # one message past FILE_UPLOAD_MAX_MEMORY_SIZE: spooled
    [b"x" * 30, b"y" * 30],
])
async def test_the_view_reads_the_body_however_it_arrived(settings, chunks):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 32
    start, content = await call(handler(settings), method="POST", body=chunks, path="/echo")
    assert start["status"] == 200 and content == b"".join(chunks)


@pytest.mark.parametrize(("headers", "chunks", "length"), [
    ([], [b'{"a": 1}'], "8"),  # chunked (no Content-Length), one message
    ([], [b'{"a":', b"", b" 1}"], "8"),  # chunked, in pieces
    ([(b"content-length", b"8")], [b'{"a": 1}'], "8"),  # declared: left as it is
])
async def test_a_body_without_a_declared_length_is_parsed_by_drf(settings, headers, chunks, length):
    json_type = [(b"content-type", b"application/json")]
    start, content = await call(handler(settings), method="POST", headers=[*json_type, *headers], body=chunks,
                                path="/data")
    assert start["status"] == 200 and json.loads(content) == {"data": {"a": 1}, "length": length}


async def test_an_empty_body_gets_no_length(settings):
    start, content = await call(handler(settings), method="POST", path="/data")
    assert start["status"] == 200 and json.loads(content) == {"data": {}, "length": None}


async def test_a_disallowed_host_is_400_whatever_the_middleware(settings):
    settings.ALLOWED_HOSTS = ["example.com"]
    start, _ = await call(handler(settings))  # Host: localhost
    assert start["status"] == 400
