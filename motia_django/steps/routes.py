"""API steps as URL patterns: one route per path shape, serving all of its methods.

Motia's ``/chat-messages/:channelId`` becomes ``chat-messages/<str:channelId>``; one route per path serves all
of its methods, with ``AsyncStepView`` when one of its handlers is ``async def``. Routes are ordered so that
literal segments win over parameters at the same position (``/chat-messages/:channelId/typing`` before
``/chat-messages/:channelId/:messageId``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import URLPattern, path

from motia_django.steps.config import Step
from motia_django.steps.registry import step_registry
from motia_django.steps.views import AsyncStepView, StepView

__all__ = ["build_urlpatterns", "django_route"]


def django_route(step: Step) -> str:
    return "/".join(f"<str:{seg[1:]}>" if seg.startswith(":") else seg for seg in step.path.strip("/").split("/")
                    if seg)


def _order(shape: str) -> list[int]:
    return [1 if seg == ":" else 0 for seg in shape.strip("/").split("/")]


def build_urlpatterns(steps: Iterable[Step] | None = None) -> list[URLPattern]:
    """One ``StepView`` route per path shape, for ``steps`` (default: the registry's API steps)."""
    routes: dict[str, dict[str, Step]] = {}
    for step in step_registry.api_steps if steps is None else steps:
        if step.type == "api":
            routes.setdefault(step.shape, {})[step.method] = step
    patterns = []
    for shape in sorted(routes, key=_order):
        by_method = routes[shape]
        first = next(iter(by_method.values()))
        view_class = AsyncStepView if any(step.is_async for step in by_method.values()) else StepView
        view = view_class.as_view(steps=dict(by_method),
                                http_method_names=[*(m.lower() for m in by_method), "options",
                                                   *(["head"] if "GET" in by_method else [])])
        patterns.append(path(django_route(first), view, name=f"motia-step-{first.name}"))
    return patterns
