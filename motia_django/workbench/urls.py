"""Workbench URLs. Mount at the root, before the API steps' include, so ``/endpoints`` is as in Motia::

    path("", include("motia_django.workbench.urls")),
"""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from motia_django.workbench import api, views

app_name = "motia_workbench"

urlpatterns = [
    path("endpoints", views.endpoints, name="endpoints"),
    path("streams", views.streams, name="streams"),
    path("flows", views.flows, name="flows"),
    path("events", views.events, name="events"),
    path("workbench/", RedirectView.as_view(pattern_name="motia_workbench:endpoints"), name="index"),
    path("workbench/api/steps", api.step_list, name="api-steps"),
    path("workbench/api/streams", api.stream_list, name="api-streams"),
    path("workbench/api/streams/<str:name>/groups", api.stream_groups, name="api-groups"),
    path("workbench/api/streams/<str:name>/groups/<str:group_id>", api.group_items, name="api-items"),
    path("workbench/api/events", api.event_list, name="api-events"),
    path("workbench/api/flows", api.flow_graph, name="api-flows"),
]
