"""motia_django.steps.routes: API steps as URL patterns (one route per path shape, literal segments first, the
async view when a handler is async)."""

from __future__ import annotations

import types

import pytest
from django.urls import Resolver404, resolve

from motia_django.steps.config import build_step
from motia_django.steps.registry import step_registry
from motia_django.steps.routes import build_urlpatterns, django_route
from motia_django.steps.views import AsyncStepView, StepView


def sync_handler(req, context):
    return {"status": 200, "body": {}}


async def async_handler(req, context):
    return {"status": 200, "body": {}}


def step(name: str, method: str, path: str, handler=sync_handler, **config):
    return build_step({"type": "api", "name": name, "method": method, "path": path, **config}, handler, "test")


def urlconf(patterns) -> types.ModuleType:
    module = types.ModuleType("routes_test_urls")
    module.urlpatterns = patterns
    return module


def served(match) -> dict[str, str]:
    return {method: s.name for method, s in match.func.view_initkwargs["steps"].items()}


@pytest.mark.parametrize(("path", "route"), [
    ("/chat-messages", "chat-messages"),
    ("/chat-messages/:channelId", "chat-messages/<str:channelId>"),
    ("/a/:x/b/:y", "a/<str:x>/b/<str:y>"),
    ("/", ""),
])
def test_django_route(path, route):
    assert django_route(step("S", "GET", path)) == route


def test_literal_segments_win_over_parameters():
    patterns = build_urlpatterns([
        step("Update", "PUT", "/chat/:channelId/:messageId"),
        step("Typing", "POST", "/chat/:channelId/typing"),
        step("List", "GET", "/chat/:channelId"),
        step("Create", "POST", "/chat"),
    ])
    routes = [str(p.pattern) for p in patterns]
    assert routes.index("chat/<str:channelId>/typing") < routes.index("chat/<str:channelId>/<str:messageId>")
    conf = urlconf(patterns)
    assert served(resolve("/chat/room/typing", urlconf=conf)) == {"POST": "Typing"}
    assert served(resolve("/chat/room/m1", urlconf=conf)) == {"PUT": "Update"}
    assert resolve("/chat/room/m1", urlconf=conf).kwargs == {"channelId": "room", "messageId": "m1"}


def test_one_route_per_shape_serves_all_its_methods():
    patterns = build_urlpatterns([
        step("Get", "GET", "/items/:id"),
        step("Delete", "DELETE", "/items/:itemId"),  # same shape, another parameter name
        step("Other", "GET", "/other"),
    ])
    assert [str(p.pattern) for p in patterns] == ["other", "items/<str:id>"]
    match = resolve("/items/7", urlconf=urlconf(patterns))
    assert served(match) == {"GET": "Get", "DELETE": "Delete"}
    assert match.url_name == "motia-step-Get"  # named after the shape's first step
    assert sorted(match.func.view_initkwargs["http_method_names"]) == ["delete", "get", "head", "options"]


def test_head_only_with_get():
    (pattern,) = build_urlpatterns([step("Create", "POST", "/things")])
    assert sorted(pattern.callback.view_initkwargs["http_method_names"]) == ["options", "post"]


def test_the_async_view_when_any_handler_of_the_route_is_async():
    patterns = build_urlpatterns([
        step("SyncGet", "GET", "/mixed"),
        step("AsyncPost", "POST", "/mixed", handler=async_handler),
        step("SyncOnly", "GET", "/sync"),
    ])
    conf = urlconf(patterns)
    assert resolve("/mixed", urlconf=conf).func.view_class is AsyncStepView
    assert resolve("/sync", urlconf=conf).func.view_class is StepView


def test_steps_of_other_types_are_not_routed():
    event = build_step({"type": "event", "name": "E", "subscribes": ["t"]}, sync_handler, "test")
    assert build_urlpatterns([event]) == []
    assert build_urlpatterns([]) == []


def test_no_match_outside_the_routes():
    conf = urlconf(build_urlpatterns([step("List", "GET", "/chat/:channelId")]))
    with pytest.raises(Resolver404):
        resolve("/chat/room/extra", urlconf=conf)
    with pytest.raises(Resolver404):
        resolve("/chat", urlconf=conf)


def test_default_is_the_registrys_api_steps():
    patterns = build_urlpatterns()
    names = {s.name for p in patterns for s in p.callback.view_initkwargs["steps"].values()}
    assert names == {s.name for s in step_registry.api_steps}
    assert len(patterns) == len({s.shape for s in step_registry.api_steps})
