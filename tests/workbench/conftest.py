"""Fixtures of the motia_django.workbench tests: DEBUG on (the workbench is open), and a small project of steps
for the flow graph."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def debug_on(settings: Any) -> None:
    settings.DEBUG = True


@pytest.fixture
def graph_steps() -> Any:
    """A small project: a cron step, an event step, and a noop step standing for a human (Motia's example)."""
    from motia_django.steps.config import build_step
    from motia_django.steps.registry import step_registry

    steps = [
        build_step({"type": "cron", "name": "Nightly", "cron": "0 2 * * *", "emits": ["order.review"],
                    "flows": ["orders"], "description": "every night"}, lambda c: None, "n"),
        build_step({"type": "noop", "name": "HumanApproval", "virtualSubscribes": ["order.review"],
                    "virtualEmits": [{"topic": "order.approved", "label": "approved by a human"}],
                    "flows": ["orders"]}, None, "h"),
        build_step({"type": "event", "name": "Ship", "subscribes": ["order.approved"], "flows": ["orders"]},
                   lambda i, c: None, "s"),
    ]
    saved = step_registry._items
    step_registry._items = {step.name: step for step in steps}
    yield steps
    step_registry._items = saved
