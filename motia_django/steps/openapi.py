"""OpenAPI for API steps (drf-spectacular): each operation is built from its step's config and schemas.

``bodySchema`` becomes the request body, ``responseSchema`` the responses by status, ``queryParams`` the query
parameters, ``flows`` the tags, the step name the operation id. Pydantic's ``$defs`` references are inlined,
since the document's components are not where they point.

drf-spectacular is the ``openapi`` extra. Without it the API steps are served all the same (``StepAutoSchema``
is then a plain DRF inspector that nothing asks), and ``openapi.json`` and ``openapi/`` answer 501 naming the
extra (``openapi_urlpatterns``).
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from motia_django.compat import has_drf_spectacular, missing_extra

if TYPE_CHECKING or has_drf_spectacular:
    from drf_spectacular.openapi import AutoSchema
else:
    from rest_framework.schemas.inspectors import ViewInspector as AutoSchema

if TYPE_CHECKING:
    from motia_django.steps.config import Step
    from motia_django.stream.schema import Schema

__all__ = ["StepAutoSchema", "openapi_schema", "openapi_urlpatterns"]


def _inline(node: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")) and depth < 20:
            target = defs.get(ref.rsplit("/", 1)[-1], {})
            return _inline(copy.deepcopy(target), defs, depth + 1)
        return {k: _inline(v, defs, depth) for k, v in node.items() if k not in ("$defs", "definitions", "$schema")}
    if isinstance(node, list):
        return [_inline(v, defs, depth) for v in node]
    return node


def openapi_schema(schema: Schema) -> dict[str, Any]:
    described = schema.describe()
    defs = {**described.get("definitions", {}), **described.get("$defs", {})}
    return dict(_inline(described, defs))


class StepAutoSchema(AutoSchema):
    """drf-spectacular's inspector for ``StepView``: reads the step serving ``self.method``."""

    @property
    def _step(self) -> Step | None:
        return getattr(self.view, "steps", {}).get(self.method)

    def get_operation_id(self) -> str:
        step = self._step
        return step.name if step else super().get_operation_id()

    def get_description(self) -> str:  # type: ignore[override]
        step = self._step
        return step.description if step else ""

    def get_summary(self) -> str | None:
        step = self._step
        return step.name if step else None

    def get_tags(self) -> list[str]:
        step = self._step
        return list(step.flows) if step and step.flows else ["steps"]

    def _get_parameters(self) -> list[dict[str, Any]]:
        step = self._step
        params: list[dict[str, Any]] = [
            {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", self.path)
        ]
        for q in step.query_params if step else []:
            params.append({"in": "query", "name": q["name"], "required": False,
                           "description": q.get("description", ""), "schema": {"type": "string"}})
        return params

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        step = self._step
        if step is None or step.body_schema is None:
            return None
        return {"content": {"application/json": {"schema": openapi_schema(step.body_schema)}}, "required": True}

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        step = self._step
        if step is None or not step.response_schema:
            return {"default": {"description": "The handler's response"}}
        return {
            str(code): {"description": "", "content": {"application/json": {"schema": openapi_schema(schema)}}}
            for code, schema in sorted(step.response_schema.items())
        }


def without_spectacular(request: HttpRequest) -> HttpResponse:
    """The OpenAPI paths when drf-spectacular is not installed: 501, and what to install."""
    message = f"{missing_extra('The OpenAPI document of the API steps', 'openapi')}\n"
    return HttpResponse(message, status=501, content_type="text/plain; charset=utf-8")


def openapi_urlpatterns() -> list[URLPattern]:
    """``openapi.json`` (the document) and ``openapi/`` (Swagger UI, which needs ``"drf_spectacular"`` in
    ``INSTALLED_APPS``) for ``motia_django.urls``."""
    if not has_drf_spectacular:
        return [path("openapi.json", without_spectacular, name="motia-openapi"),
                path("openapi/", without_spectacular, name="motia-openapi-ui")]
    from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

    return [path("openapi.json", SpectacularJSONAPIView.as_view(), name="motia-openapi"),
            path("openapi/", SpectacularSwaggerView.as_view(url_name="motia-openapi"), name="motia-openapi-ui")]
