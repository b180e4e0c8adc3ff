"""The admin, the workbench, the todo app's API (/todos/), and the API steps at the root (as Motia serves them)
with the OpenAPI document at /openapi.json."""

from django.contrib import admin
from django.urls import include, path

from example_project.frontend_app import frontend

urlpatterns = [
    path("admin/", admin.site.urls),
    path("app/", frontend), path("app/<path:path>", frontend),  # the React example (docs/react.md)
    path("", include("motia_django.workbench.urls")),  # /endpoints, /streams, /flows, /events
    path("", include("motia_django.metrics.urls")),  # /metrics (Prometheus; open in DEBUG, else token or staff)
    path("", include("example_project.todo.urls")),  # /todos/ (a DRF ModelViewSet)
    path("", include("motia_django.urls")),
]
