"""Shared by the tests of motia_django.metrics: the bearer token they configure and offer."""

from __future__ import annotations

TOKEN = "metrics-test-token"
