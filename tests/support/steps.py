"""Helpers for step tests: point STEPS_DIRS at fixture folders and serve their API steps."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_STEPS = ROOT / "example_project" / "steps"
FIXTURES = ROOT / "tests" / "steps_fixtures"


def use_steps(settings: Any, *dirs: Path, **motia: Any) -> None:
    """Load the streams of the example project plus the step modules of ``dirs``, and route their API steps."""
    from motia_django.urls import build_urlpatterns

    settings.MOTIA = {"STEPS_DIRS": [EXAMPLE_STEPS / "streams", *dirs], **motia}
    urls = types.ModuleType(f"step_urls_{id(dirs)}")
    urls.urlpatterns = build_urlpatterns()  # type: ignore[attr-defined]
    settings.ROOT_URLCONF = urls


@pytest.fixture
def flow_steps(settings: Any) -> None:
    use_steps(settings, FIXTURES / "flows", EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=3)
