"""API steps on a lean ASGI handler: Django's, with its own middleware list and no per-request signals.

Why: under ASGI each sync-only middleware costs a request a thread hop each way, and Django's handler adds
two more for the ``request_started`` / ``request_finished`` signals (a new thread per request, for their
database clean-up). An API step needs none of that: DRF authenticates it itself, and its database work goes
through motia_django's own threads, which recycle their connections. So ``StepsHandler`` runs only the
middleware in ``MOTIA["API_MIDDLEWARE"]`` (default: the async-native ones of ``MIDDLEWARE``) and sends no
per-request signals. docs/performance.md has the measurements. ``motia_django.asgi.Router`` sends it the
requests whose path resolves to an API step.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.http.request import HttpRequest
from django.urls import set_script_prefix
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from motia_django.compat import response_handler
from motia_django.conf import motia_settings

__all__ = ["StepsHandler", "api_middleware"]


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
        handler: Any = convert_exception_to_response(response_handler(self))
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
