"""motia_django.urls: the API steps' routes, then the OpenAPI document and its Swagger UI."""

from __future__ import annotations

import importlib

import pytest
from django.urls import clear_url_caches, resolve, reverse

import motia_django.urls
from motia_django.steps.registry import step_registry
from motia_django.steps.routes import build_urlpatterns
from motia_django.steps.views import StepView


@pytest.fixture
def urls():
    """motia_django.urls built now, from the steps of the current settings (it is built once, at import)."""
    module = importlib.reload(motia_django.urls)
    clear_url_caches()
    yield module
    clear_url_caches()


def test_the_step_routes_come_first_then_the_openapi_paths(urls):
    steps = build_urlpatterns()
    assert steps, "the example project has API steps"
    patterns = urls.urlpatterns
    assert [str(p.pattern) for p in patterns] == [*(str(p.pattern) for p in steps), "openapi.json", "openapi/"]
    assert [p.name for p in patterns[-2:]] == ["motia-openapi", "motia-openapi-ui"]
    assert all(p.name.startswith("motia-step-") for p in patterns[:-2])


def test_every_api_step_is_routed(urls):
    routed = [step.name for p in urls.urlpatterns[:-2] for step in p.callback.view_initkwargs["steps"].values()]
    assert sorted(routed) == sorted(s.name for s in step_registry.api_steps)
    assert {"CreateChatMessage", "ListChatMessages", "ChatTyping", "OpenAiApi"} <= set(routed)


def test_paths_resolve_to_the_step_views(urls):
    assert reverse("motia-openapi", urlconf=urls) == "/openapi.json"
    assert reverse("motia-openapi-ui", urlconf=urls) == "/openapi/"
    match = resolve("/chat-messages/room-1/typing", urlconf=urls)
    assert issubclass(match.func.view_class, StepView)
    assert match.kwargs == {"channelId": "room-1"}
    assert set(match.func.view_initkwargs["steps"]) == {"POST"}


def test_the_document_and_the_ui_are_served(urls, client, settings):
    settings.ROOT_URLCONF = "motia_django.urls"
    document = client.get("/openapi.json")
    assert document.status_code == 200
    assert "/chat-messages" in document.json()["paths"]
    ui = client.get("/openapi/")
    assert ui.status_code == 200 and b"swagger" in ui.content.lower()
