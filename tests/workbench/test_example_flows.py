"""Every step of the example project belongs to a flow, so the workbench's Flows page draws each one in a flow's
graph and none under "(no flow)"."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from motia_django.steps.registry import step_registry
from motia_django.workbench.catalog import NO_FLOW, flow_graphs

STEPS = Path(__file__).resolve().parents[2] / "example_project" / "steps"
MODULES = sorted(STEPS.rglob("*_step.py"))


def test_the_example_has_steps() -> None:
    assert len(MODULES) >= 9


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(STEPS)) for p in MODULES])
def test_every_example_step_names_a_flow(path: Path) -> None:
    module = importlib.import_module(".".join(path.relative_to(STEPS.parents[1]).with_suffix("").parts))
    flows = module.config.get("flows")
    assert isinstance(flows, list) and flows and all(isinstance(f, str) and f for f in flows), (
        f"{path.name}: add \"flows\": [\"<flow>\"] to its config")


@pytest.mark.django_db
def test_no_registered_example_step_is_drawn_without_a_flow() -> None:
    names = {importlib.import_module(".".join(p.relative_to(STEPS.parents[1]).with_suffix("").parts)).config["name"]
             for p in MODULES}
    assert names <= {s.name for s in step_registry.steps}  # the test settings load the example's steps
    data = flow_graphs()
    assert NO_FLOW not in data["flows"]
    drawn = {n["label"] for g in data["graphs"] for n in g["nodes"] if n["kind"] not in ("stream", "topic")}
    assert names <= drawn
