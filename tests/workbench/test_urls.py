"""motia_django.workbench.urls: the workbench's pages and JSON endpoints are at the paths its docs give (as in Motia)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import resolve, reverse

from motia_django.workbench import api, views

ROUTES = [
    ("/endpoints", "endpoints", {}, views.endpoints),
    ("/streams", "streams", {}, views.streams),
    ("/flows", "flows", {}, views.flows),
    ("/events", "events", {}, views.events),
    ("/workbench/api/steps", "api-steps", {}, api.step_list),
    ("/workbench/api/streams", "api-streams", {}, api.stream_list),
    ("/workbench/api/streams/chatMessage/groups", "api-groups", {"name": "chatMessage"}, api.stream_groups),
    ("/workbench/api/streams/chatMessage/groups/room-1", "api-items", {"name": "chatMessage", "group_id": "room-1"},
     api.group_items),
    ("/workbench/api/events", "api-events", {}, api.event_list),
    ("/workbench/api/flows", "api-flows", {}, api.flow_graph),
]


@pytest.mark.parametrize(("url", "name", "kwargs", "view"), ROUTES)
def test_every_path_resolves_to_its_view(url, name, kwargs, view):
    alone = resolve(url, urlconf="motia_django.workbench.urls")
    assert alone.func is view and alone.url_name == name and alone.kwargs == kwargs
    mounted = resolve(url)  # as the project mounts it, at the root
    assert mounted.func is view and mounted.view_name == f"motia_workbench:{name}"
    assert reverse(f"motia_workbench:{name}", kwargs=kwargs) == url


def test_the_workbench_index_redirects_to_the_endpoints_page(client: Client) -> None:
    response = client.get("/workbench/")
    assert response.status_code == 302 and response["Location"] == reverse("motia_workbench:endpoints")
