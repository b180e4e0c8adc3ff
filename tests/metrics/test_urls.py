"""motia_django.metrics.urls: the include that mounts the Prometheus endpoint at /metrics, where scrapers look."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import resolve, reverse

from motia_django.metrics.views import metrics_view


@pytest.mark.django_db
def test_open_in_debug_and_every_metric_is_there(client):
    with override_settings(DEBUG=True):
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain") and response["Cache-Control"] == "no-store"
    text = response.content.decode()
    for name in ("motia_websocket_connections", "motia_subscriptions", "motia_frames_sent_total",
                 "motia_frames_ignored_total",
                 "motia_slow_client_disconnects_total", "motia_broadcast_delay_seconds_bucket",
                 "motia_step_duration_seconds", "motia_events"):
        assert name in text, name


@pytest.mark.parametrize("urlconf", ["motia_django.metrics.urls", None])  # on its own, and as the project mounts it
def test_metrics_resolves_to_the_view(urlconf):
    match = resolve("/metrics", urlconf=urlconf)
    assert match.func is metrics_view and match.url_name == "motia-metrics"
    assert reverse("motia-metrics", urlconf=urlconf) == "/metrics"
