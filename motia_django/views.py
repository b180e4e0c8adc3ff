"""API steps served as DRF views: one ``StepView`` per path, dispatching by method to the step's handler.

A request becomes Motia's ``req`` (``body``, ``headers``, ``pathParams``, ``queryParams``), checked against the
step's ``bodySchema`` first (400 with the errors, handler not called); the handler's ``{"status", "body",
"headers"}`` becomes the response. DRF's authentication, permission and throttling settings apply; a step may
set ``authentication_classes`` / ``permission_classes`` in its config. Each request gets a new trace id
(``x-trace-id`` response header), which its ``context`` and every event emitted under it carry.

The view is async (Django serves it on the event loop; see docs/performance.md). An ``async def`` handler runs
on the loop: no thread for the view, no ``async_to_sync`` back to the loop. DRF's authentication, permission
and throttle checks run on the loop too when the step has no authenticators, only ``AllowAny`` and no throttles
(nothing there can touch the database); otherwise they run in a thread first. A plain ``def`` handler runs,
with all of DRF's request cycle, in a thread as before. The response is rendered once, in the same place.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import SimpleTemplateResponse
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from motia_django.conf import motia_settings
from motia_django.context import FlowContext, new_trace_id
from motia_django.exceptions import StreamValidationError
from motia_django.openapi import StepAutoSchema
from motia_django.steps import Step

__all__ = ["StepView"]

log = logging.getLogger("motia_django.api")


def _error(status: int, message: str, errors: list[dict[str, Any]] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return Response(body, status=status)


class StepView(APIView):
    """Serves the API steps of one path; ``steps`` maps the HTTP method to its step (set by ``as_view``)."""

    steps: dict[str, Step] = {}
    schema = StepAutoSchema()
    view_is_async = True  # ``dispatch`` is a coroutine (Django awaits it)

    step: Step | None = None
    trace_id: str = ""

    # --- DRF policies, per step ---------------------------------------------------------------------------

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        self.step = self.steps.get(request.method)
        self.trace_id = new_trace_id()
        return super().initialize_request(request, *args, **kwargs)

    def get_authenticators(self) -> list[Any]:
        if self.step is not None and self.step.authentication_classes is not None:
            return [cls() for cls in self.step.authentication_classes]
        return super().get_authenticators()

    def get_permissions(self) -> list[Any]:
        if self.step is not None and self.step.permission_classes is not None:
            return [cls() for cls in self.step.permission_classes]
        return list(super().get_permissions())

    # --- CORS ----------------------------------------------------------------------------------------------

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        """CORS preflight (answered before authentication, as browsers send no credentials with it)."""
        response = Response(status=204)
        response["Allow"] = ", ".join([*self.steps, "OPTIONS"])
        origin = motia_settings.API_CORS_ORIGIN
        if origin:
            response["Access-Control-Allow-Methods"] = response["Allow"]
            response["Access-Control-Allow-Headers"] = request.headers.get("Access-Control-Request-Headers", "*")
            response["Access-Control-Max-Age"] = "86400"
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "OPTIONS" and motia_settings.API_CORS_ORIGIN:
            return  # preflight: no authentication, permission or throttle checks
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = motia_settings.API_CORS_ORIGIN
        if origin and "Access-Control-Allow-Origin" not in response:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = "x-trace-id"
            if origin != "*":
                response["Vary"] = "Origin"
        if self.trace_id and "x-trace-id" not in response:
            response["x-trace-id"] = self.trace_id
        return response

    # --- the request cycle ----------------------------------------------------------------------------------

    async def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        step = self.steps.get(request.method)
        if step is None or not step.is_async:  # sync handlers, OPTIONS, HEAD: DRF's cycle in a thread
            return await sync_to_async(self.dispatch_sync)(request, *args, **kwargs)
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            if self.policies_are_pure():
                self.initial(request, *args, **kwargs)
            else:  # authenticators and permissions may query the database: not on the loop
                await sync_to_async(self.initial)(request, *args, **kwargs)
            prepared = self.prepare(request, kwargs)
            if isinstance(prepared, HttpResponseBase):
                response = prepared
            else:
                req, context = prepared
                assert step.handler is not None
                try:
                    response = self.build_response(step, await step.handler(req, context))
                except Exception as exc:
                    response = self.failed(step, context, exc)
        except Exception as exc:
            response = self.handle_exception(exc)
        return self.finish(request, response, *args, **kwargs)

    def dispatch_sync(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """DRF's own cycle (``APIView.dispatch``), then the rendering, in the calling thread."""
        response = APIView.dispatch(self, request, *args, **kwargs)
        return self.render(request, response, *args, **kwargs)

    def policies_are_pure(self) -> bool:
        """True when authentication, permissions and throttles cannot touch the database (safe on the loop)."""
        return (not self.get_authenticators() and not self.get_throttles()
                and all(type(p) is AllowAny for p in self.get_permissions()))

    def finish(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        rendered = self.render(request, self.finalize_response(request, response, *args, **kwargs))
        self.response = rendered  # type: ignore[assignment]  # a plain HttpResponse once rendered
        return rendered

    def render(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Render here, once (a body that is not JSON is a 500 with the trace id), and hand Django a plain
        ``HttpResponse``: a response with a pending ``render()`` would cost the async handler a thread hop."""
        if not isinstance(response, SimpleTemplateResponse):
            return response
        try:
            response.render()
        except (TypeError, ValueError) as exc:
            if self.step is None:
                raise
            try:
                raise TypeError(f"API step {self.step.name!r} returned a body that is not JSON: {exc}") from exc
            except TypeError as error:
                failed = self.failed(self.step, None, error)
            response = self.finalize_response(request, failed, *args, **kwargs)
            response.render()
        plain = HttpResponse(response.content, status=response.status_code, reason=response.reason_phrase,
                             headers=response.headers)
        plain.cookies = response.cookies
        return plain

    # --- the step ------------------------------------------------------------------------------------------

    def prepare(self, request: Request, kwargs: dict[str, Any]) -> HttpResponseBase | tuple[dict[str, Any],
                                                                                            FlowContext]:
        """Motia's ``req`` and the ``context`` for the handler, or the 400 answer for a bad body."""
        step = self.step
        assert step is not None
        try:
            body: Any = request.data
        except (ParseError, UnsupportedMediaType) as exc:
            return _error(400, "Invalid request body", [{"path": "", "message": str(exc.detail)}])
        if hasattr(body, "dict"):  # form data: a QueryDict
            body = {k: v[0] if len(v) == 1 else v for k, v in body.lists()}
        if step.body_schema is not None:
            try:
                body = step.body_schema.validate(body, label="body")
            except StreamValidationError as exc:
                return _error(400, "Invalid request body", exc.errors)
        query: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in request.query_params.lists()}
        req = {
            "body": body,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "pathParams": dict(zip(step.path_params, kwargs.values(), strict=False)),
            "queryParams": query,
            "method": request.method,
            "user": getattr(request, "user", None),
        }
        return req, FlowContext(self.trace_id, step)

    def handle_step(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        step = self.step
        if step is None:  # pragma: no cover - http_method_names only lists the steps' methods
            return _error(405, "Method not allowed")
        prepared = self.prepare(request, kwargs)
        if isinstance(prepared, HttpResponseBase):
            return prepared
        req, context = prepared
        try:
            handler = step.handler
            assert handler is not None
            result = async_to_sync(handler)(req, context) if step.is_async else handler(req, context)
            return self.build_response(step, result)
        except Exception as exc:
            return self.failed(step, context, exc)

    get = post = put = patch = delete = handle_step

    def failed(self, step: Step, context: FlowContext | None, exc: Exception) -> HttpResponseBase:
        """The answer to a handler's exception (call from its ``except`` block)."""
        if isinstance(exc, APIException | Http404):
            raise exc  # DRF answers these (401, 403, 404, ...)
        if isinstance(exc, StreamValidationError) and context is not None:
            context.logger.warning("stream write rejected", {"errors": exc.errors})
            return _error(400, str(exc), exc.errors)
        log.error("API step %s failed (trace id %s)", step.name, self.trace_id, exc_info=exc,
                  extra={"trace_id": self.trace_id, "step": step.name})
        extra: dict[str, Any] = {"traceId": self.trace_id}
        if settings.DEBUG:
            extra["detail"] = repr(exc)
            extra["traceback"] = "".join(traceback.format_exception(exc))
        return _error(500, "Internal Server Error", **extra)

    def build_response(self, step: Step, result: Any) -> HttpResponseBase:
        if not isinstance(result, dict) or not isinstance(result.get("status"), int):
            raise TypeError(f"API step {step.name!r} returned {type(result).__name__}; "
                            'return {"status": 200, "body": ...}')
        status, body = result["status"], result.get("body")
        headers = dict(result.get("headers") or {})
        if settings.DEBUG:
            self.check_response(step, status, body)
        if isinstance(body, str | bytes):
            content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
            default = "text/plain; charset=utf-8" if isinstance(body, str) else "application/octet-stream"
            response: HttpResponseBase = HttpResponse(body, status=status, content_type=content_type or default)
        else:
            response = Response(body, status=status)  # rendered once, in ``render`` (not JSON: a 500 there)
        for key, value in headers.items():
            if key.lower() != "content-type" or not isinstance(response, HttpResponse):
                response[key] = value
        return response

    def check_response(self, step: Step, status: int, body: Any) -> None:
        schema = step.response_schema.get(status)
        if schema is None:
            return
        data = {k: v for k, v in body.items() if k != "__motia"} if isinstance(body, dict) else body
        try:
            schema.validate(data, label="response")
        except StreamValidationError as exc:
            log.error("API step %s: the %s response does not match its responseSchema: %s", step.name, status,
                      exc, extra={"trace_id": self.trace_id, "step": step.name, "errors": exc.errors})
