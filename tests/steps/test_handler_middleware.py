"""The API step handler's middleware in-process: InlineRun and its OnTheLoop/SessionOnTheLoop layers, API_MIDDLEWARE_EXCLUDE, sessions and body limits over ASGI."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.test import AsyncRequestFactory
from django.utils.deprecation import MiddlewareMixin

from motia_django.models import StreamItem
from motia_django.steps.handler import InlineRun, OnTheLoop, SessionOnTheLoop, StepsHandler, api_middleware
from tests.support.steps import FIXTURES, use_steps

HERE = __name__
COMMON = "django.middleware.common.CommonMiddleware"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
EXAMPLE_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware", SESSIONS, COMMON, "django.middleware.csrf.CsrfViewMiddleware",
    AUTH, "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
calls: list[tuple[str, int]] = []


def recorder(name: str, *, answer: bool = False, raise_in: str = "") -> type[MiddlewareMixin]:
    """A MiddlewareMixin middleware recording its hooks and the thread they ran in; ``answer``: its
    process_request answers itself; ``raise_in``: the hook (``request`` or ``response``) that raises."""

    def process_request(self: Any, request: HttpRequest) -> HttpResponse | None:
        calls.append((f"{name}.request", threading.get_ident()))
        if raise_in == "request":
            raise PermissionDenied
        return HttpResponse(f"from {name}") if answer else None

    def process_response(self: Any, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        calls.append((f"{name}.response:{response.status_code}", threading.get_ident()))
        if raise_in == "response":
            raise SuspiciousOperation("refused")
        response[f"x-{name}"] = "seen"
        return response

    return type(name, (MiddlewareMixin,), {"process_request": process_request, "process_response": process_response})


class SyncRecorder(MiddlewareMixin):
    """Not one of Django's own: adapted as Django adapts it (its hooks run in a thread)."""

    def process_request(self, request: HttpRequest) -> None:
        calls.append(("sync.request", threading.get_ident()))


async def view(request: HttpRequest) -> HttpResponse:
    calls.append(("view", threading.get_ident()))
    return HttpResponse(b"ok")


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


# --- InlineRun -------------------------------------------------------------------------------------------------


def chain(*classes: type[MiddlewareMixin], adapter: type[OnTheLoop] = OnTheLoop) -> Any:
    return InlineRun([adapter(cls(view)) for cls in classes], view)


def names() -> list[str]:
    return [name for name, _ in calls]


async def test_an_inline_run_calls_the_hooks_in_order_on_the_loop():
    outer = chain(recorder("a"), recorder("b"))
    response = await outer(AsyncRequestFactory().get("/"))
    assert response.content == b"ok" and response["x-a"] == response["x-b"] == "seen"
    assert names() == ["a.request", "b.request", "view", "b.response:200", "a.response:200"]
    assert {thread for _, thread in calls} == {threading.get_ident()}  # no thread hop for any hook


async def test_a_process_request_answer_skips_the_rest_but_not_its_own_or_the_outer_responses():
    outer = chain(recorder("a"), recorder("b", answer=True), recorder("c"))
    response = await outer(AsyncRequestFactory().get("/"))
    assert response.content == b"from b"
    assert names() == ["a.request", "b.request", "b.response:200", "a.response:200"]


async def test_a_process_request_that_raises_is_answered_there_and_the_outer_ones_see_it():
    """As Django's ``convert_exception_to_response`` around each middleware: the raising one's own
    ``process_response`` does not run, the outer ones' do, on the error's response."""
    response = await chain(recorder("a"), recorder("b", raise_in="request"), recorder("c"))(
        AsyncRequestFactory().get("/"))
    assert response.status_code == 403  # PermissionDenied, as Django answers it
    assert names() == ["a.request", "b.request", "a.response:403"]


async def test_a_process_response_that_raises_is_answered_there_and_the_outer_ones_see_it():
    response = await chain(recorder("a"), recorder("b"), recorder("c", raise_in="response"))(
        AsyncRequestFactory().get("/"))
    assert response.status_code == 400  # SuspiciousOperation
    assert names() == ["a.request", "b.request", "c.request", "view", "c.response:200", "b.response:400",
                       "a.response:400"]


async def test_a_middleware_without_hooks_just_passes_through():
    bare = type("bare", (MiddlewareMixin,), {})
    response = await chain(bare)(AsyncRequestFactory().get("/"))
    assert response.content == b"ok" and names() == ["view"]


def test_an_inline_run_is_a_coroutine_function_django_awaits():
    assert asyncio.iscoroutinefunction(chain(recorder("a")))


# --- SessionOnTheLoop -----------------------------------------------------------------------------------------


def session_chain(monkeypatch: Any) -> Any:
    """SessionMiddleware through SessionOnTheLoop, its process_response recording the thread it runs in."""
    original = SessionMiddleware.process_response

    def recording(self: Any, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        calls.append(("session.response", threading.get_ident()))
        return original(self, request, response)

    monkeypatch.setattr(SessionMiddleware, "process_response", recording)
    return chain(SessionMiddleware, adapter=SessionOnTheLoop)


async def test_an_unmodified_session_is_not_saved_and_stays_on_the_loop(monkeypatch):
    response = await session_chain(monkeypatch)(AsyncRequestFactory().get("/"))
    assert dict(calls)["session.response"] == threading.get_ident()
    assert "sessionid" not in response.cookies


@pytest.mark.django_db(transaction=True)
async def test_a_modified_session_is_saved_in_a_thread(monkeypatch):
    async def writes(request: HttpRequest) -> HttpResponse:
        request.session["cart"] = ["apple"]
        return HttpResponse(b"ok")

    outer = session_chain(monkeypatch)
    outer.get_response = writes
    response = await outer(AsyncRequestFactory().get("/"))
    assert dict(calls)["session.response"] != threading.get_ident()  # the save's database write: off the loop
    key = response.cookies["sessionid"].value
    stored = await sync_to_async(lambda: SessionStore(session_key=key).load())()
    assert stored == {"cart": ["apple"]}


@pytest.mark.django_db(transaction=True)
async def test_session_save_every_request_saves_in_a_thread(monkeypatch, settings):
    settings.SESSION_SAVE_EVERY_REQUEST = True
    await session_chain(monkeypatch)(AsyncRequestFactory().get("/"))
    assert dict(calls)["session.response"] != threading.get_ident()


# --- api_middleware and the chain StepsHandler builds ---------------------------------------------------------


def test_api_middleware_is_the_projects_middleware_less_the_excluded(settings):
    settings.MIDDLEWARE = EXAMPLE_MIDDLEWARE
    assert api_middleware() == EXAMPLE_MIDDLEWARE
    settings.MOTIA = {**settings.MOTIA, "API_MIDDLEWARE_EXCLUDE": [COMMON, AUTH]}
    assert api_middleware() == [m for m in EXAMPLE_MIDDLEWARE if m not in (COMMON, AUTH)]


def test_api_middleware_exclude_applies_to_api_middleware_too(settings):
    settings.MOTIA = {**settings.MOTIA, "API_MIDDLEWARE": [COMMON, SESSIONS], "API_MIDDLEWARE_EXCLUDE": [COMMON]}
    assert api_middleware() == [SESSIONS]


def walk(steps: StepsHandler) -> list[Any]:
    """The links of a built chain, outermost first: an ``InlineRun`` stands for its layers (``OnTheLoop``).
    Each link is ``convert_exception_to_response`` of the next; the walk ends at the first that does not lead
    further (the view's handler, or a middleware Django's way adapted into a thread)."""
    found, link = [], steps._middleware_chain
    while True:
        inner = getattr(link, "__wrapped__", None)
        if inner is None:
            return found
        found.extend(inner.layers if isinstance(inner, InlineRun) else [inner])
        if not hasattr(inner, "get_response"):
            return found
        link = inner.get_response


def layers(steps: StepsHandler) -> list[Any]:
    """The middleware instances of the inline part of a built chain, outermost first."""
    return [inner.instance for inner in walk(steps) if isinstance(inner, OnTheLoop)]


def test_the_built_chain_leaves_the_excluded_out(settings):
    settings.MIDDLEWARE = EXAMPLE_MIDDLEWARE
    names = [type(m).__name__ for m in layers(StepsHandler())]
    assert names == ["SecurityMiddleware", "SessionMiddleware", "CommonMiddleware", "CsrfViewMiddleware",
                     "AuthenticationMiddleware", "MessageMiddleware", "XFrameOptionsMiddleware"]
    assert type(StepsHandler()._middleware_chain.__wrapped__) is InlineRun  # all seven: one link
    settings.MOTIA = {**settings.MOTIA, "API_MIDDLEWARE_EXCLUDE": [COMMON]}
    assert "CommonMiddleware" not in [type(m).__name__ for m in layers(StepsHandler())]


def test_csrf_with_sessions_is_not_inline(settings):
    """CSRF_USE_SESSIONS: the token is read from the session (the database), so Django's adapter runs it."""
    settings.MIDDLEWARE = [SESSIONS, "django.middleware.csrf.CsrfViewMiddleware"]
    assert [type(inner) for inner in walk(StepsHandler())][:2] == [SessionOnTheLoop, OnTheLoop]
    settings.CSRF_USE_SESSIONS = True
    chain = walk(StepsHandler())
    assert type(chain[0]) is SessionOnTheLoop
    assert not isinstance(chain[1], OnTheLoop)  # Django's adapter (a thread), not inline


# --- API steps over ASGI ---------------------------------------------------------------------------------------


class Receive:
    """An ASGI ``receive`` that hands out ``messages`` and counts how many were asked for."""

    def __init__(self, *messages: dict[str, Any], forever: dict[str, Any] | None = None) -> None:
        self.messages, self.forever, self.count = list(messages), forever, 0

    async def __call__(self) -> dict[str, Any]:
        self.count += 1
        if self.messages:
            return self.messages.pop(0)
        if self.forever is not None:
            return self.forever
        await asyncio.Event().wait()  # a client that sends nothing more
        raise AssertionError("unreachable")


async def asgi(steps: StepsHandler, method: str, path: str, *, headers: list[tuple[bytes, bytes]] | None = None,
               receive: Receive | None = None, host: bytes = b"localhost",
               ) -> tuple[int | None, dict[bytes, bytes], bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "headers": [(b"host", host), *(headers or [])], "client": ("127.0.0.1", 1),
             "server": ("localhost", 80)}
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(steps(scope, receive or Receive({"type": "http.request", "body": b""}), send), 10)
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if start is None:
        return None, {}, body
    return start["status"], {name.lower(): value for name, value in start["headers"]}, body


@pytest.fixture
def steps_settings(settings: Any) -> Any:
    """The example's MIDDLEWARE around the flows fixture steps (``GET /text``, ``POST /echo/:kind/:id``) and the
    session-only ones of tests/steps_fixtures/hostile."""
    use_steps(settings, FIXTURES / "flows", FIXTURES / "hostile")
    settings.MIDDLEWARE = EXAMPLE_MIDDLEWARE
    settings.ALLOWED_HOSTS = ["localhost"]
    settings.DISALLOWED_USER_AGENTS = [re.compile("HostileBot")]
    return settings


async def test_django_middleware_of_a_step_runs_on_the_loop(steps_settings, monkeypatch):
    from django.middleware.clickjacking import XFrameOptionsMiddleware

    original = XFrameOptionsMiddleware.process_response

    def recording(self: Any, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        calls.append(("frames.response", threading.get_ident()))
        return original(self, request, response)

    monkeypatch.setattr(XFrameOptionsMiddleware, "process_response", recording)
    status, headers, body = await asgi(StepsHandler(), "GET", "/text")
    assert (status, body) == (200, b"plain text")
    assert headers[b"x-frame-options"] == b"DENY"
    assert calls == [("frames.response", threading.get_ident())]


async def test_other_middleware_of_a_step_runs_in_a_thread(steps_settings):
    steps_settings.MIDDLEWARE = [*EXAMPLE_MIDDLEWARE, f"{HERE}.SyncRecorder"]
    status, _, _ = await asgi(StepsHandler(), "GET", "/text")
    assert status == 200
    assert [name for name, _ in calls] == ["sync.request"] and calls[0][1] != threading.get_ident()


@pytest.mark.parametrize(("exclude", "status"), [([], 403), ([COMMON], 200)])
async def test_common_middleware_refuses_a_user_agent_unless_excluded(steps_settings, exclude, status):
    steps_settings.MOTIA = {**steps_settings.MOTIA, "API_MIDDLEWARE_EXCLUDE": exclude}
    got, _, _ = await asgi(StepsHandler(), "GET", "/text", headers=[(b"user-agent", b"HostileBot/2")])
    assert got == status


@pytest.mark.parametrize("middleware", [[], ["django.middleware.clickjacking.XFrameOptionsMiddleware"], "example"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/text"), ("POST", "/echo/a/b")])
async def test_a_disallowed_host_is_400_whatever_the_middleware(steps_settings, middleware, method, path):
    """Django's own views answer a Host that ALLOWED_HOSTS refuses with 400 only if some middleware asks for the
    host; API steps answer it whatever MIDDLEWARE holds, none included."""
    steps_settings.MIDDLEWARE = EXAMPLE_MIDDLEWARE if middleware == "example" else middleware
    status, _, _ = await asgi(StepsHandler(), method, path, host=b"evil.example")
    assert status == 400
    allowed, _, _ = await asgi(StepsHandler(), "GET", "/text")
    assert allowed == 200


async def signed_in(django_user_model: Any) -> str:
    """The key of a session row signed in as a new user "ann"."""
    user = await sync_to_async(django_user_model.objects.create_user)("ann", password="pw")

    def session_for() -> str:
        store = SessionStore()
        store.update({"_auth_user_id": str(user.pk), "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                      "_auth_user_hash": user.get_session_auth_hash()})
        store.create()
        assert store.session_key is not None
        return store.session_key

    return await sync_to_async(session_for)()


@pytest.mark.django_db(transaction=True)
async def test_a_session_gives_the_step_its_user(steps_settings, django_user_model):
    key = await signed_in(django_user_model)
    anonymous, _, _ = await asgi(StepsHandler(), "GET", "/hostile/whoami")
    assert anonymous == 403
    status, _, body = await asgi(StepsHandler(), "GET", "/hostile/whoami",
                                 headers=[(b"cookie", f"sessionid={key}".encode())])
    assert (status, body) == (200, b'{"user":"ann"}')


@pytest.mark.django_db(transaction=True)
async def test_a_session_post_without_the_csrf_token_is_403(steps_settings, django_user_model):
    key = await signed_in(django_user_model)
    body = b'{"message": "forged"}'
    receive = Receive({"type": "http.request", "body": body})
    status, _, answer = await asgi(StepsHandler(), "POST", "/hostile/notes/room", receive=receive, headers=[
        (b"cookie", f"sessionid={key}".encode()), (b"content-type", b"application/json"),
        (b"origin", b"https://evil.example")])
    assert status == 403 and b"CSRF Failed" in answer
    assert not await StreamItem.objects.filter(group_id="room").aexists()


async def test_a_declared_body_over_the_limit_is_413_and_never_received(steps_settings):
    steps_settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    receive = Receive()
    status, _, body = await asgi(StepsHandler(), "POST", "/echo/a/b", receive=receive,
                                 headers=[(b"content-length", b"1001"), (b"content-type", b"application/json")])
    assert (status, body) == (413, b'{"error":"Request body too large"}')
    assert receive.count == 0


async def test_a_streamed_body_is_refused_once_past_the_limit(steps_settings):
    steps_settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    receive = Receive(forever={"type": "http.request", "body": b"x" * 300, "more_body": True})  # never ends
    status, _, _ = await asgi(StepsHandler(), "POST", "/echo/a/b", receive=receive,
                              headers=[(b"content-type", b"application/json")])
    assert status == 413
    assert receive.count == 4  # 1200 bytes: the first chunk past the limit, no more


async def test_a_client_that_leaves_mid_body_gets_no_answer(steps_settings):
    receive = Receive({"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"})
    status, _, _ = await asgi(StepsHandler(), "POST", "/echo/a/b", receive=receive,
                              headers=[(b"content-type", b"application/json")])
    assert status is None


async def test_head_of_a_get_step_keeps_the_length_and_drops_the_body(steps_settings):
    status, headers, body = await asgi(StepsHandler(), "HEAD", "/text")
    assert (status, body) == (200, b"")
    assert headers[b"content-length"] == str(len(b"plain text")).encode()


async def test_a_body_at_the_limit_reaches_the_step(steps_settings):
    steps_settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    payload = b'{"a": "' + b"x" * (1000 - 9) + b'"}'
    assert len(payload) == 1000
    receive = Receive({"type": "http.request", "body": payload[:500], "more_body": True},
                      {"type": "http.request", "body": payload[500:], "more_body": False})
    status, _, body = await asgi(StepsHandler(), "POST", "/echo/a/b", receive=receive,
                                 headers=[(b"content-type", b"application/json")])
    assert status == 200 and b'"pathParams":{"kind":"a","id":"b"}' in body
