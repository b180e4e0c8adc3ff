"""API steps served as DRF views: one ``StepView`` per path, dispatching by method to the step's handler.

A request becomes Motia's ``req`` (``body``, ``headers``, ``pathParams``, ``queryParams``), checked against the
step's ``bodySchema`` first (400 with the errors, handler not called); the handler's ``{"status", "body",
"headers"}`` becomes the response. DRF's authentication, permission and throttling settings apply; a step may
set ``authentication_classes`` / ``permission_classes`` in its config. Each request gets a new trace id
(``x-trace-id`` response header), which its ``context`` and every event emitted under it carry.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
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

    # --- the step ------------------------------------------------------------------------------------------

    def handle_step(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        step = self.step
        if step is None:  # pragma: no cover - http_method_names only lists the steps' methods
            return _error(405, "Method not allowed")
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
        context = FlowContext(self.trace_id, step)
        try:
            handler = step.handler
            assert handler is not None
            result = async_to_sync(handler)(req, context) if step.is_async else handler(req, context)
            return self.build_response(step, result)
        except (APIException, Http404):
            raise  # DRF answers these (401, 403, 404, ...)
        except StreamValidationError as exc:
            context.logger.warning("stream write rejected", {"errors": exc.errors})
            return _error(400, str(exc), exc.errors)
        except Exception as exc:
            log.exception("API step %s failed (trace id %s)", step.name, self.trace_id,
                          extra={"trace_id": self.trace_id, "step": step.name})
            extra: dict[str, Any] = {"traceId": self.trace_id}
            if settings.DEBUG:
                extra["detail"] = repr(exc)
                extra["traceback"] = traceback.format_exc()
            return _error(500, "Internal Server Error", **extra)

    get = post = put = patch = delete = handle_step

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
            json.dumps(body, cls=JSONEncoder)  # fail here (a 500 with the trace id), not while rendering
            response = Response(body, status=status)
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
