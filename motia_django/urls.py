"""URL patterns for the API steps: ``path("", include("motia_django.urls"))`` serves them (Motia serves them at
the root), plus the OpenAPI document at ``openapi.json`` and a Swagger UI at ``openapi/``. Routes are built by
``motia_django.steps.routes``.
"""

from __future__ import annotations

from motia_django.steps.openapi import openapi_urlpatterns
from motia_django.steps.routes import build_urlpatterns

__all__ = ["urlpatterns"]

urlpatterns = [
    *build_urlpatterns(),
    *openapi_urlpatterns(),  # without the 'openapi' extra (drf-spectacular), both answer 501 naming it
]
