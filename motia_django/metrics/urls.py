"""The Prometheus endpoint at ``/metrics``. Opt in by mounting it at the root, before the API steps' include (so
no step path can shadow it)::

    path("", include("motia_django.metrics.urls")),
"""

from __future__ import annotations

from django.urls import path

from motia_django.metrics.views import metrics_view

__all__ = ["urlpatterns"]

urlpatterns = [
    path("metrics", metrics_view, name="motia-metrics"),
]
