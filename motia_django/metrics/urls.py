"""The Prometheus endpoint at ``/metrics``. Opt in by mounting it at the root, before the API steps' include (so
no step path can shadow it)::

    path("", include("motia_django.metrics.urls")),

It needs prometheus-client (the ``metrics`` extra). Without it this module still imports, so the project starts:
``/metrics`` answers 501 naming the extra, and the system check ``motia_django.W023`` says so at start.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import path

from motia_django.compat import missing_extra, prometheus_client

__all__ = ["urlpatterns"]


def without_prometheus(request: HttpRequest) -> HttpResponse:
    """``/metrics`` when prometheus-client is not installed: 501, and what to install."""
    message = f"{missing_extra('/metrics', 'metrics')}\n"
    return HttpResponse(message, status=501, content_type="text/plain; charset=utf-8")


def _view() -> Callable[[HttpRequest], HttpResponse]:
    if prometheus_client is None:
        return without_prometheus
    from motia_django.metrics.views import metrics_view

    return metrics_view


urlpatterns = [
    path("metrics", _view(), name="motia-metrics"),
]
