"""API steps on a lean ASGI handler: Django's, with the project's middleware run without thread hops.

API steps keep Django's security semantics: the project's ``MIDDLEWARE`` applies to them (less what
``MOTIA["API_MIDDLEWARE_EXCLUDE"]`` opts out, or exactly ``MOTIA["API_MIDDLEWARE"]`` when set), so
``SecurityMiddleware``'s headers and redirects, sessions, ``request.user`` (DRF's ``SessionAuthentication`` and
its CSRF check) and whatever else the project lists work as on any Django view. A disallowed ``Host`` is a 400
whatever the middleware, and a body past ``DATA_UPLOAD_MAX_MEMORY_SIZE`` a 413, answered before it is read.

Why a handler of its own: under ASGI, Django runs each ``MiddlewareMixin`` middleware's hooks in a thread, a hop
each way, and its handler adds two more for the ``request_started`` / ``request_finished`` signals (a new thread
per request, for their database clean-up). The hooks of Django's own middleware (``INLINE``) do no I/O, so they
run here on the loop, inline; ``SessionMiddleware`` saves a modified session in a thread. Other middleware is
adapted as Django adapts it. No per-request signals: the step's database work goes through motia_django's own
threads, which recycle their connections. docs/performance.md has the measurements.
``motia_django.asgi.Router`` sends this handler the requests whose path resolves to an API step.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from asgiref.sync import ThreadSensitiveContext, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import (
    DisallowedHost,
    ImproperlyConfigured,
    MiddlewareNotUsed,
    RequestAborted,
    SuspiciousOperation,
)
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response, response_for_exception
from django.http import HttpResponse, HttpResponseBadRequest
from django.http.request import HttpRequest
from django.urls import set_script_prefix
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from motia_django.bridge import request_thread
from motia_django.compat import response_handler
from motia_django.conf import motia_settings

__all__ = ["INLINE", "BodyTooLarge", "GuardedRequests", "InlineRun", "StepsHandler", "api_middleware"]

#: Django's middleware whose hooks do no I/O (``SessionMiddleware``: unless it saves), run inline on the loop.
INLINE = frozenset({
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
})
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
CSRF_MIDDLEWARE = "django.middleware.csrf.CsrfViewMiddleware"


class GuardedRequests(ASGIHandler):
    """Django's ASGI handler, with a 400 for what its request refuses while being built (``TooManyFieldsSent``
    when a ``charset`` in ``Content-Type`` makes it parse the query string), which Django leaves to a 500.
    ``motia_django.asgi.Router`` serves the project's own views on it too."""

    def create_request(self, scope: Mapping[str, Any], body_file: Any) -> tuple[Any, Any]:
        try:
            return super().create_request(scope, body_file)
        except SuspiciousOperation as exc:
            logging.getLogger(f"django.security.{type(exc).__name__}").error(str(exc))
            return None, HttpResponseBadRequest(b'{"error":"Bad Request"}', content_type="application/json")


class BodyTooLarge(Exception):
    """The request body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: answered 413 before the rest is read."""


def api_middleware() -> list[str]:
    """The middleware API steps run through: ``MOTIA["API_MIDDLEWARE"]``, or the project's ``MIDDLEWARE`` less
    ``MOTIA["API_MIDDLEWARE_EXCLUDE"]``."""
    chosen = motia_settings.API_MIDDLEWARE
    excluded = set(motia_settings.API_MIDDLEWARE_EXCLUDE)
    return [path for path in (settings.MIDDLEWARE if chosen is None else chosen) if path not in excluded]


def _inline(path: str) -> bool:
    if path == CSRF_MIDDLEWARE and settings.CSRF_USE_SESSIONS:  # its token is read from the session
        return False
    return path in INLINE


async def _call(method: Callable[..., Any], *args: Any) -> Any:
    return method(*args)


class OnTheLoop:
    """A ``MiddlewareMixin`` middleware whose hooks do no I/O, run inline in an async chain (Django would run
    each hook in a thread), as one layer of an ``InlineRun``."""

    def __init__(self, instance: MiddlewareMixin) -> None:
        self.instance = instance
        self.process_request = getattr(instance, "process_request", None)
        self.process_response = getattr(instance, "process_response", None)

    async def respond(self, request: HttpRequest, response: Any) -> Any:
        assert self.process_response is not None
        return self.process_response(request, response)


class SessionOnTheLoop(OnTheLoop):
    """``SessionMiddleware``: inline, but a session to save is saved in a thread (it writes to its store)."""

    async def respond(self, request: HttpRequest, response: Any) -> Any:
        assert self.process_response is not None
        session = getattr(request, "session", None)
        saving = session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)
        if saving:
            return await request_thread(self.process_response)(request, response)
        return self.process_response(request, response)


class InlineRun:
    """Consecutive inline middleware (``OnTheLoop``, outermost first) as one link of the chain: each one's
    ``process_request`` in order until one answers, the rest of the chain, then ``process_response`` in reverse
    for each one that was entered. A hook's exception becomes a response where it is raised, as Django's
    ``convert_exception_to_response`` around each middleware makes it, and the middleware outside it see that
    response. One coroutine for the run instead of two for each middleware in it (the example's seven)."""

    async_capable, sync_capable = True, False

    def __init__(self, layers: list[OnTheLoop], get_response: Callable[[HttpRequest], Awaitable[Any]]) -> None:
        self.layers, self.get_response = layers, get_response
        markcoroutinefunction(self)  # as MiddlewareMixin marks itself: Django awaits it

    async def __call__(self, request: HttpRequest) -> Any:
        entered = 0
        response = None
        for layer in self.layers:
            if layer.process_request is not None:
                try:
                    response = layer.process_request(request)
                except Exception as exc:
                    response = await _answer(request, exc)
                    break
            entered += 1
            if response:  # MiddlewareMixin: ``response or get_response(request)``
                break
        else:
            response = await self.get_response(request)
        for layer in reversed(self.layers[:entered]):
            if layer.process_response is not None:
                try:
                    response = await layer.respond(request, response)
                except Exception as exc:
                    response = await _answer(request, exc)
        return response


async def _answer(request: HttpRequest, exc: Exception) -> Any:
    """The response for a middleware hook's exception, made as Django's async ``convert_exception_to_response``
    makes it."""
    return await sync_to_async(response_for_exception, thread_sensitive=False)(request, exc)


class StepsHandler(GuardedRequests):
    """Django's ASGI handler for API steps (see the module docstring)."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler: Any = convert_exception_to_response(response_handler(self))
        run: list[OnTheLoop] = []  # consecutive inline middleware, innermost first, not yet in the chain
        for path in reversed(api_middleware()):
            middleware = import_string(path)
            inline = isinstance(middleware, type) and issubclass(middleware, MiddlewareMixin) and _inline(path)
            if run and not inline:
                handler, run = convert_exception_to_response(InlineRun(run[::-1], handler)), []
            try:
                instance, link = (middleware(handler), None) if inline else self._wrap(path, middleware, handler)
            except MiddlewareNotUsed:
                continue
            self._hooks(instance, inline=inline)
            if link is None:
                run.append((SessionOnTheLoop if path == SESSION_MIDDLEWARE else OnTheLoop)(instance))
            else:
                handler = convert_exception_to_response(link)
        if run:
            handler = convert_exception_to_response(InlineRun(run[::-1], handler))
        self._middleware_chain = handler

    def _wrap(self, path: str, middleware: Any, handler: Any) -> tuple[Any, Any]:
        """A middleware that is not run inline, around ``handler`` as Django makes it: its instance, and what the
        chain calls (the instance, or Django's adapter of it)."""
        is_async = getattr(middleware, "async_capable", False)
        if is_async:
            instance = middleware(handler)
        elif getattr(middleware, "sync_capable", True):  # adapted as Django adapts it: a thread hop each way
            instance = middleware(self.adapt_method_mode(False, handler, True, name=f"middleware {path}"))
        else:
            raise ImproperlyConfigured(f"Middleware {path} is neither sync- nor async-capable")
        if instance is None:
            raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
        return instance, instance if is_async else self.adapt_method_mode(True, instance, False)

    def _hooks(self, instance: Any, *, inline: bool) -> None:
        """Register ``process_view`` / ``process_template_response`` / ``process_exception``, as Django does."""
        def hook(method: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
            if inline and is_async:
                return lambda *args: _call(method, *args)
            return self.adapt_method_mode(is_async, method)

        if hasattr(instance, "process_view"):
            self._view_middleware.insert(0, hook(instance.process_view, True))
        if hasattr(instance, "process_template_response"):
            self._template_response_middleware.append(hook(instance.process_template_response, True))
        if hasattr(instance, "process_exception"):
            self._exception_middleware.append(self.adapt_method_mode(False, instance.process_exception))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("motia.sync_step"):  # Django's per-request thread for a sync handler, as its handler does
            async with ThreadSensitiveContext():
                await self.handle(scope, receive, send)
        else:
            await self.handle(scope, receive, send)

    async def read_body(self, receive: Any) -> Any:
        """The body, read as Django reads it, but never past ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``BodyTooLarge``)."""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        in_memory = settings.FILE_UPLOAD_MAX_MEMORY_SIZE
        body_file = None
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if body_file is not None:
                    body_file.close()
                raise RequestAborted()
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if limit is not None and size > limit:
                if body_file is not None:
                    body_file.close()
                raise BodyTooLarge
            if body_file is None:
                if not more and size <= in_memory:
                    return io.BytesIO(chunk)  # the usual body: one message, small (what a spooled file would hold)
                # Returned open, as Django's read_body returns it.
                body_file = tempfile.SpooledTemporaryFile(max_size=in_memory, mode="w+b")  # noqa: SIM115
            body_file.write(chunk)
            if not more:
                break
        body_file.seek(0)
        return body_file

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if _declared_length(scope) > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or float("inf")):
            await self.send_response(_too_large(), send)  # refused before a byte of it is read
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        except BodyTooLarge:
            await self.send_response(_too_large(), send)
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                response = error_response
            else:
                _declare_length(request, body_file)
                response = _bad_host(request) or await self.run_get_response(request)
                if request.method == "HEAD" and isinstance(response, HttpResponse):
                    response.content = b""  # as Django's servers answer HEAD: the GET's headers, no body
            assert response is not None
            await self.send_response(response, send)
        finally:
            body_file.close()

    def resolve_request(self, request: HttpRequest) -> Any:
        match = request.scope.get("motia.match") if hasattr(request, "scope") else None
        if match is None:
            return super().resolve_request(request)
        request.resolver_match = match
        return match


def _declared_length(scope: dict[str, Any]) -> int:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _declare_length(request: HttpRequest, body_file: Any) -> None:
    """A body sent without ``Content-Length`` (chunked, as some proxies forward every body) gets the length that
    was read: DRF takes a request without one for a request without a body, and would parse a JSON body as
    ``{}``. The body is already read whole, within ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    if "CONTENT_LENGTH" in request.META:
        return
    size = body_file.seek(0, io.SEEK_END)
    body_file.seek(0)
    if size:
        request.META["CONTENT_LENGTH"] = str(size)


def _too_large() -> HttpResponse:
    return HttpResponse(b'{"error":"Request body too large"}', status=413, content_type="application/json")


def _bad_host(request: HttpRequest) -> HttpResponse | None:
    """Django's 400 for a ``Host`` that ``ALLOWED_HOSTS`` does not allow, whatever the middleware."""
    try:
        request.get_host()
    except DisallowedHost as exc:
        return response_for_exception(request, exc)
    return None
