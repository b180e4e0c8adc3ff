"""URL patterns for the API steps: ``path("", include("motia_django.urls"))`` serves them (Motia serves them at
the root), plus the OpenAPI document at ``openapi.json`` and a Swagger UI at ``openapi/``. Routes are built by
``motia_django.steps.routes``.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from motia_django.steps.routes import build_urlpatterns

__all__ = ["urlpatterns"]

urlpatterns = [
    *build_urlpatterns(),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="motia-openapi"),
    path("openapi/", SpectacularSwaggerView.as_view(url_name="motia-openapi"), name="motia-openapi-ui"),
]
