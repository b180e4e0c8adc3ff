"""motia_django.workbench.catalog: example bodies from JSON Schemas and the flow graph (cron, noop and virtual
edges, cycles), which both the pages and the JSON endpoints show."""

from __future__ import annotations

from typing import Any

import pytest

from motia_django.workbench.catalog import example_for, flow_graph


def test_example_for_schema_features() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer", "default": 3},
            "kind": {"enum": ["a", "b"]},
            "ref": {"$ref": "#/$defs/Inner"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "number", "examples": [1.5]}}}},
    }
    assert example_for(schema) == {"name": "string", "count": 3, "kind": "a", "ref": {"x": 1.5}, "maybe": False,
                                   "tags": []}
    assert example_for(None) == {}


def test_flow_graph_survives_a_cycle(settings: Any) -> None:
    from motia_django.steps.config import build_step
    from motia_django.steps.registry import step_registry

    steps = [
        build_step({"type": "event", "name": "A", "subscribes": ["x"], "emits": ["y"]}, lambda i, c: None, "a"),
        build_step({"type": "event", "name": "B", "subscribes": ["y"], "emits": ["x"]}, lambda i, c: None, "b"),
    ]
    saved = step_registry._items
    step_registry._items = {step.name: step for step in steps}
    try:
        graph = flow_graph()
    finally:
        step_registry._items = saved
    assert len(graph["nodes"]) == 4 and all("d" in e for e in graph["edges"])


@pytest.mark.django_db
@pytest.mark.usefixtures("graph_steps")
def test_flow_graph_draws_cron_noop_and_virtual_edges() -> None:
    from motia_django.steps.cron import enqueue_due_ticks
    from motia_django.steps.registry import step_registry

    graph = flow_graph("orders")
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["step:Nightly"]["kind"] == "cron" and nodes["step:Nightly"]["detail"] == "cron 0 2 * * *"
    assert nodes["step:Nightly"]["cron"] == "0 2 * * *" and nodes["step:Nightly"]["nextRun"] is None
    assert (nodes["step:HumanApproval"]["kind"], nodes["step:HumanApproval"]["detail"]) == ("noop", "noop")
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert not edges[("step:Nightly", "topic:order.review")]["virtual"]
    assert edges[("topic:order.review", "step:HumanApproval")]["virtual"]  # virtualSubscribes
    approved = edges[("step:HumanApproval", "topic:order.approved")]
    assert approved["virtual"] and approved["label"] == "approved by a human"
    assert not edges[("topic:order.approved", "step:Ship")]["virtual"]
    assert nodes["step:Nightly"]["x"] < nodes["step:HumanApproval"]["x"] < nodes["step:Ship"]["x"]

    enqueue_due_ticks(step_registry.cron_steps)  # a runner has seen the step: its next run is known
    assert flow_graph()["nodes"][0]["nextRun"].endswith("+00:00")
