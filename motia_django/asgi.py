"""The HTTP side of the ASGI application: API steps on a lean handler, everything else on Django's own.

``get_asgi_application()`` replaces Django's in a project's ``asgi.py`` (and, in the embedded setup, starts the
process's event runner: see its docstring). A request whose path resolves to an API step is served by
``StepsHandler``; every other request (the admin, the workbench, the project's views) by Django's
``ASGIHandler``, unchanged.

Why: under ASGI each sync-only middleware costs a request a thread hop each way, and Django's handler adds
two more for the ``request_started`` / ``request_finished`` signals (a new thread per request, for their
database clean-up). An API step needs none of that: DRF authenticates it itself, and its database work goes
through motia_django's own threads, which recycle their connections. So ``StepsHandler`` runs only the
middleware in ``MOTIA["API_MIDDLEWARE"]`` (default: the async-native ones of ``MIDDLEWARE``) and sends no
per-request signals. docs/performance.md has the measurements.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.http.request import HttpRequest
from django.urls import Resolver404, get_resolver, set_script_prefix
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from motia_django.conf import motia_settings

__all__ = ["StepsHandler", "api_middleware", "get_asgi_application", "lifespan"]


def _async_native(middleware: Any) -> bool:
    """Middleware that runs on the loop without a thread hop (not built on ``MiddlewareMixin``'s wrapper)."""
    if isinstance(middleware, type) and issubclass(middleware, MiddlewareMixin):
        return False
    return bool(getattr(middleware, "async_capable", False))


def api_middleware() -> list[str]:
    """The middleware API steps run through: ``MOTIA["API_MIDDLEWARE"]``, or the async-native part of
    ``MIDDLEWARE``."""
    from django.conf import settings

    chosen = motia_settings.API_MIDDLEWARE
    if chosen is not None:
        return list(chosen)
    return [path for path in settings.MIDDLEWARE if _async_native(import_string(path))]


class StepsHandler(ASGIHandler):
    """Django's ASGI handler for API steps: their own middleware list, no per-request signals."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler: Any = convert_exception_to_response(self._get_response_async)  # type: ignore[attr-defined]
        for path in reversed(api_middleware()):
            middleware = import_string(path)
            if not getattr(middleware, "async_capable", False):
                raise ImproperlyConfigured(f"MOTIA['API_MIDDLEWARE']: {path} cannot run async")
            instance = middleware(handler)
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, self.adapt_method_mode(True, instance.process_view))
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(
                    self.adapt_method_mode(True, instance.process_template_response))
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(self.adapt_method_mode(False, instance.process_exception))
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("motia.sync_step"):  # Django's per-request thread for a sync handler, as its handler does
            async with ThreadSensitiveContext():
                await self.handle(scope, receive, send)
        else:
            await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from django.core.exceptions import RequestAborted

        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            request, error_response = self.create_request(scope, body_file)
            response = error_response if request is None else await self.run_get_response(request)
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


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI ``lifespan`` protocol: on shutdown, stop this process's event runner, which gives back the events
    it was running. Route ``"lifespan"`` to it in a ``ProtocolTypeRouter`` (``Router`` answers it itself).

    Needed on uvicorn: after a graceful shutdown on SIGTERM it raises the signal again with the default handler,
    so the process dies without running exit hooks. Daphne has no lifespan and exits normally, so the exit hook
    of ``motia_django.worker`` does it there.
    """
    from motia_django.worker import background_worker

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await asyncio.to_thread(background_worker().stop)
            await send({"type": "lifespan.shutdown.complete"})
            return


class Router:
    """Sends API step requests to ``StepsHandler``, ``lifespan`` to ``lifespan()``, and the rest to Django's
    ``ASGIHandler``."""

    def __init__(self) -> None:
        from motia_django.views import AsyncStepView, StepView  # after django.setup()

        self.step_view, self.async_step_view = StepView, AsyncStepView
        self.django = ASGIHandler()
        self.steps = StepsHandler()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            match = self.step_match(scope.get("path", ""))
            if match is not None:
                scope = {**scope, "motia.match": match,
                         "motia.sync_step": not issubclass(match.func.view_class, self.async_step_view)}
                await self.steps(scope, receive, send)
                return
        elif scope["type"] == "lifespan":
            await lifespan(scope, receive, send)
            return
        await self.django(scope, receive, send)


    def step_match(self, path: str) -> Any:
        """The resolved API step route of ``path``, or None (a request for Django's own handler)."""
        try:
            match = get_resolver().resolve(path)
        except Resolver404:
            return None
        view_class = getattr(match.func, "view_class", None)
        return match if isinstance(view_class, type) and issubclass(view_class, self.step_view) else None


def get_asgi_application(*, run_events: bool | None = None) -> Router:
    """Django's ASGI application, with API steps on ``StepsHandler`` (use it in place of Django's).

    Building it is the sign that this process is a server. When events run in the server process
    (``run_events``, by default ``motia_django.worker.events_in_process()``: the embedded setup), the event
    runner starts now, not at the first request: events the previous run left pending or gave back on its way
    down, and cron ticks, run as the server starts. The runner gives its running events back when the server
    stops: at the ASGI lifespan shutdown (uvicorn; route ``"lifespan"`` to ``lifespan``) or when the process
    exits normally (Daphne, on SIGTERM or Ctrl-C). Pass ``run_events=False`` to leave it to the first emit or
    request (e.g. in a process that builds the application without serving it).
    """
    import django

    django.setup(set_prefix=False)
    from motia_django.worker import background_worker, events_in_process  # after django.setup()

    if events_in_process() if run_events is None else run_events:
        background_worker().start()
    return Router()
