"""API steps served as DRF views: one view per path, dispatching by method to the step's handler.

A request becomes Motia's ``req`` (``body``, ``headers``, ``pathParams``, ``queryParams``), checked against the
step's ``bodySchema`` first; the handler's ``{"status", "body", "headers"}`` becomes the response. DRF's
authentication, permission and throttling settings apply (a step may set ``authentication_classes`` /
``permission_classes``). Each request gets a new trace id (``x-trace-id``), carried by its ``context`` and every
event emitted under it. Every error body comes from one place, ``exception_handler``.

Two views, chosen per route as django-ninja chooses ``Operation`` or ``AsyncOperation``: ``StepView`` runs
DRF's own ``dispatch`` unchanged; ``AsyncStepView`` (a route with an ``async def`` handler) runs that same
``dispatch`` (on the loop when the policies cannot touch the database, else in a thread), in which the step
method only prepares the call, and then awaits the handler on the loop.
"""

from __future__ import annotations

import io
import logging
import traceback
from contextlib import AbstractContextManager
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpResponse, QueryDict, RawPostDataException
from django.http.response import HttpResponseBase
from django.template.response import SimpleTemplateResponse
from django.utils.datastructures import MultiValueDict
from rest_framework import parsers, renderers
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.request import Empty, Request
from rest_framework.response import Response
from rest_framework.utils import encoders
from rest_framework.views import APIView

from motia_django import rest
from motia_django.bridge import request_thread, run_async
from motia_django.conf import motia_settings
from motia_django.exceptions import StreamValidationError
from motia_django.metrics import step_timer
from motia_django.steps.config import Step
from motia_django.steps.context import AsyncFlowContext, FlowContext, context_for
from motia_django.steps.openapi import StepAutoSchema
from motia_django.stream.write_queue import write_scope
from motia_django.tracing import new_trace_id, step_span

__all__ = ["AsyncStepView", "InvalidBody", "JSONRenderer", "StepView", "exception_handler"]

log = logging.getLogger("motia_django.api")

_drf_default = encoders.JSONEncoder().default  # Decimal, datetime, lazy strings... as DRF writes them
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def dump_json(data: Any) -> bytes:
    """A response body (orjson, with DRF's encoding of what JSON has no type for)."""
    return orjson.dumps(data, default=_drf_default, option=_JSON_OPTIONS)


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer on orjson: API steps answer JSON, as Motia's do."""

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: Any = None) -> bytes:
        return b"" if data is None else dump_json(data)


class InvalidBody(APIException):
    """The request body is not JSON, or does not match the step's ``bodySchema`` (400, handler not called)."""

    status_code = 400

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("Invalid request body")
        self.errors = errors


def _body(status: int, message: str, errors: list[dict[str, Any]] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return Response(body, status=status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error body of an API step: a bad body and a stream write rejected by its schema are 400 with the
    errors; DRF's own exceptions are DRF's answers; anything else is a 500 naming the trace id."""
    view = context.get("view")
    trace_id = getattr(view, "trace_id", "")
    step: Step | None = getattr(view, "step", None)
    if isinstance(exc, InvalidBody):
        return _body(400, "Invalid request body", exc.errors)
    if step is None or not isinstance(exc, StreamValidationError):
        answered = rest.exception_handler(exc, context)  # DRF's answers, 413, 400 and 503 as the project's views
        if answered is not None or step is None:
            return answered
    if isinstance(exc, StreamValidationError):
        flow = getattr(view, "flow_context", None)
        if flow is not None:
            flow.logger.warning("stream write rejected", {"errors": exc.errors})
            return _body(400, str(exc), exc.errors)
    log.error("API step %s failed (trace id %s)", step.name, trace_id, exc_info=exc,
              extra={"trace_id": trace_id, "step": step.name})
    extra: dict[str, Any] = {"traceId": trace_id}
    if settings.DEBUG:
        extra["detail"] = repr(exc)
        extra["traceback"] = "".join(traceback.format_exception(exc))
    return _body(500, "Internal Server Error", **extra)


def _content_length(meta: dict[str, Any]) -> int:
    """The body's length as DRF reads it (``Request._load_stream``): 0 when absent or not a number."""
    try:
        return int(meta.get("CONTENT_LENGTH", meta.get("HTTP_CONTENT_LENGTH", 0)))
    except (ValueError, TypeError):
        return 0


def _query_params(request: Request) -> dict[str, Any]:
    """Motia's ``req.queryParams``: a name's only value, or the list of its values."""
    if not request._request.META.get("QUERY_STRING"):
        return {}  # most requests: no QueryDict to build
    return {k: v[0] if len(v) == 1 else v for k, v in request.query_params.lists()}


def _headers(request: Request) -> dict[str, str]:
    """Motia's ``req.headers``: lower-case names, as Django reads them (a name holding ``_`` is dropped against
    spoofing, repeats are joined with ``,``), read straight from the ASGI scope when there is one."""
    scope = getattr(request._request, "scope", None)
    if scope is None:
        return {k.lower(): v for k, v in request.headers.items()}
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin1").lower()
        if "_" in name:
            continue
        value = raw_value.decode("latin1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


class StepView(APIView):
    """Serves the API steps of one path; ``steps`` maps the HTTP method to its step (set by ``as_view``)."""

    steps: dict[str, Step] = {}
    schema = StepAutoSchema()
    renderer_classes = [JSONRenderer]
    parser_classes = [rest.JSONParser, parsers.FormParser, parsers.MultiPartParser]

    step: Step | None = None
    trace_id: str = ""
    flow_context: FlowContext | AsyncFlowContext | None = None

    # --- DRF policies, per step ---------------------------------------------------------------------------

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        self.step = self.step_of(request.method)
        self.trace_id = new_trace_id()
        return super().initialize_request(request, *args, **kwargs)

    def step_of(self, method: str) -> Step | None:
        """The step serving ``method``; ``HEAD`` is the ``GET`` step's, as Django answers it (no body)."""
        step = self.steps.get(method)
        return self.steps.get("GET") if step is None and method == "HEAD" else step

    def get_authenticators(self) -> list[Any]:
        if self.step is not None and self.step.authentication_classes is not None:
            return [cls() for cls in self.step.authentication_classes]
        return super().get_authenticators()

    def get_permissions(self) -> list[Any]:
        if self.step is not None and self.step.permission_classes is not None:
            return [cls() for cls in self.step.permission_classes]
        return list(super().get_permissions())

    def get_exception_handler(self) -> Any:
        return exception_handler

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        """JSON, whatever ``Accept`` says (as Motia answers)."""
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    # --- CORS ----------------------------------------------------------------------------------------------

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        """CORS preflight (answered before authentication, as browsers send no credentials with it)."""
        response = Response(status=204)
        response["Allow"] = ", ".join([*self.steps, "OPTIONS"])
        if motia_settings.API_CORS_ORIGIN:
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

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return self.render(super().dispatch(request, *args, **kwargs))
        finally:
            self.release()

    def release(self) -> None:
        """Break the request's reference cycles once the response is made: DRF's ``Request`` holds itself and
        the view in its ``parser_context``. Without them a request's objects are freed when it ends instead of
        waiting for the garbage collector, whose youngest generation otherwise ran every few requests
        (``docs/performance.md``, "The request path")."""
        request = self.__dict__.get("request")
        if isinstance(request, Request):
            request.parser_context = {}

    def handle_step(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        step, req = self.prepare(request, kwargs)
        handler = step.handler
        assert handler is not None
        call = run_async(handler) if step.is_async else handler
        with step_timer(step.name, "api"), self.span(step):
            result = call(req, self.flow_context)
        return self.build_response(step, result)

    def span(self, step: Step) -> AbstractContextManager[None]:
        """The OpenTelemetry span of one run of ``step`` (a no-op without a tracer provider)."""
        return step_span(step.name, "api", self.trace_id, {"http.request.method": step.method, "http.route": step.path})

    # ``head`` on the class: Django's ``View.setup`` would otherwise store ``self.head = self.get``, a bound method
    # on the instance, a reference cycle through the view that only the garbage collector frees (the URLconf
    # allows HEAD only where there is a GET step).
    get = post = put = patch = delete = head = handle_step

    def prepare(self, request: Request, kwargs: dict[str, Any]) -> tuple[Step, dict[str, Any]]:
        """Motia's ``req`` for the handler (and its ``flow_context``); a bad body raises ``InvalidBody``."""
        step = self.step
        assert step is not None  # http_method_names lists only the steps' methods
        try:
            body: Any = self.body_of(request)
        except (ParseError, UnsupportedMediaType) as exc:
            path = exc.path if isinstance(exc, rest.BodyParseError) else ""
            raise InvalidBody([{"path": path, "message": str(exc.detail)}]) from None
        if hasattr(body, "dict"):  # form data: a QueryDict
            body = {k: v[0] if len(v) == 1 else v for k, v in body.lists()}
        if step.body_schema is not None:
            try:
                body = step.body_schema.validate(body, label="body")
            except StreamValidationError as exc:
                raise InvalidBody(exc.errors) from None
        self.flow_context = context_for(step, self.trace_id)
        return step, {
            "body": body,
            "headers": _headers(request),
            "pathParams": dict(zip(step.path_params, kwargs.values(), strict=False)),
            "queryParams": _query_params(request),
            "method": request.method,
            "user": getattr(request, "user", None),
        }

    @staticmethod
    def body_of(request: Request) -> Any:
        """``request.data``. A JSON body that DRF would hand to the view's first parser is parsed here, with that
        parser: DRF's parser selection and stream handling cost more than the parse of a small body."""
        drf: Any = request  # its private state, as DRF's own ``_load_data_and_files`` sets it
        parser = request.parsers[0] if request.parsers else None
        django_request = request._request
        if (drf._full_data is not Empty or not isinstance(parser, parsers.JSONParser)
                or parser.media_type != "application/json" or django_request.content_type != "application/json"
                or _content_length(django_request.META) <= 0):
            return request.data  # DRF's way: an empty body, forms, files, other parsers
        try:
            raw = django_request.body
        except RawPostDataException:  # the stream was read as a stream: DRF knows what to do
            return request.data
        try:
            data = parser.parse(io.BytesIO(raw), "application/json", request.parser_context)
        except Exception:
            data = QueryDict("", encoding=django_request.encoding)  # as DRF leaves a body that failed to parse
            raise
        finally:
            drf._data, drf._files, drf._full_data = data, MultiValueDict(), data
        return data

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
            try:  # rendered here, once
                content = b"" if body is None else dump_json(body)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"API step {step.name!r} returned a body that is not JSON: {exc}") from exc
            response = HttpResponse(content, status=status, content_type="application/json")
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

    def render(self, response: Any) -> HttpResponseBase:
        """Render here, once, and hand Django a plain ``HttpResponse`` (a pending ``render()`` would cost an
        async view a thread hop). A body that is not JSON becomes the handler's error: a 500."""
        if not isinstance(response, SimpleTemplateResponse):
            return response
        try:
            response.render()
        except (TypeError, ValueError) as exc:
            if self.step is None:
                raise
            error = TypeError(f"API step {self.step.name!r} returned a body that is not JSON: {exc}")
            error.__cause__ = exc
            response = self.finalize_response(self.request, self.handle_exception(error))
            response.render()
        plain = HttpResponse(response.content, status=response.status_code, reason=response.reason_phrase,
                             headers=response.headers)
        plain.cookies = response.cookies
        return plain


class AsyncStepView(StepView):
    """A route with an ``async def`` handler: the handler is awaited on the event loop, no thread for it."""

    view_is_async = True  # ``dispatch`` is a coroutine (Django awaits it)

    async def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        """DRF's ``dispatch``, step by step, with the handler awaited: the request, ``initial()``
        (authentication, permissions, throttles), the step, ``finalize_response()``, every error through
        ``handle_exception()``. ``initial()`` runs in a thread when the policies may query the database."""
        step = self.step_of(request.method)
        try:
            if step is None or not step.is_async:  # sync handlers, OPTIONS, HEAD: all of DRF's cycle in a thread
                return self.render(await request_thread(super(StepView, self).dispatch)(request, *args, **kwargs))
            return await self.run_step(step, request, *args, **kwargs)
        finally:
            self.release()

    async def run_step(self, step: Step, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """An async step's cycle, as ``dispatch`` describes it."""
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        assert step.handler is not None
        try:
            if self.policies_are_pure():
                self.initial(request, *args, **kwargs)
            else:  # authenticators and permissions may query the database: not on the loop
                await request_thread(self.initial)(request, *args, **kwargs)
            req = self.prepare(request, kwargs)[1]
            with step_timer(step.name, "api"), self.span(step):
                async with write_scope():  # the step's writes are committed before it answers
                    response = self.build_response(step, await step.handler(req, self.flow_context))
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.render(self.response)

    def policies_are_pure(self) -> bool:
        """True when authentication, permissions and throttles cannot touch the database (safe on the loop)."""
        return (not self.request.authenticators and not self.get_throttles()
                and all(type(p) is AllowAny for p in self.get_permissions()))
