"""The Prometheus endpoint: open in ``DEBUG``; otherwise for a bearer token (``MOTIA["METRICS_TOKEN"]``) or an
active staff user's session, since metric names and labels tell an outsider about the project (its steps).

Answers: 200 with the text exposition format (OpenMetrics when the scraper asks for it); 401 with
``WWW-Authenticate: Bearer`` when the request carries no credentials; 403 for a wrong token or a user who is
not staff.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from motia_django.compat import missing_extra
from motia_django.conf import motia_settings

try:
    from prometheus_client.exposition import choose_encoder
except ImportError as exc:
    raise missing_extra("motia_django.metrics.views", "metrics") from exc
from motia_django.metrics.collectors import scrape_registry

__all__ = ["denied", "metrics_view"]


def denied(request: HttpRequest) -> HttpResponse | None:
    """None when ``request`` may read the metrics, else the 401 or 403 to answer."""
    if settings.DEBUG:
        return None
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        token = motia_settings.METRICS_TOKEN
        offered = credentials.strip().encode()
        if isinstance(token, str) and token and hmac.compare_digest(offered, token.encode()):
            return None
        return _answer(403, "Wrong metrics token.")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if user.is_active and user.is_staff:
            return None
        return _answer(403, "The metrics are for staff users only.")
    response = _answer(401, "Send Authorization: Bearer <MOTIA['METRICS_TOKEN']>, or sign in as a staff user.")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _answer(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every motia_django metric (every process's in multiprocess mode) and the event counts."""
    refused = denied(request)
    if refused is not None:
        return refused
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = HttpResponse(encode(scrape_registry()), content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
