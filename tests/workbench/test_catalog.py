"""motia_django.workbench.catalog: example bodies from JSON Schemas and the flow graphs (one per flow: steps and
the streams they write; edges labelled by topic or stream; cron, noop and virtual edges; cycles), which both the
pages and the JSON endpoints show."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from motia_django.steps.config import Step, build_step
from motia_django.workbench.catalog import NO_FLOW, example_for, flow_graph, flow_graphs, stream_writes


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


@contextmanager
def registered(*steps: Step) -> Iterator[None]:
    """Only these steps are registered, for the length of the block."""
    from motia_django.steps.registry import step_registry

    saved = step_registry._items
    step_registry._items = {step.name: step for step in steps}
    try:
        yield
    finally:
        step_registry._items = saved


def event(name: str, **config: Any) -> Step:
    return build_step({"type": "event", "name": name, **config}, lambda i, c: None, name)


def api(name: str, **config: Any) -> Step:
    return build_step({"type": "api", "name": name, "method": "POST", "path": f"/{name.lower()}", **config},
                      lambda r, c: None, name)


def edges_of(graph: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(e["source"], e["target"], e["kind"], e["label"]) for e in graph["edges"]}


def writes_messages(input: Any, context: Any) -> None:
    context.streams.chatMessage.set("room", "1", {})
    context.streams["chatMessage"].delete("room", "2")
    context.streams.chatMessage.get("room", "1")  # a read: no edge
    context.streams.nope.set("g", "i", {})  # not a registered stream: no edge


def test_an_emit_and_its_subscriber_give_an_edge_labelled_with_the_topic() -> None:
    with registered(
        api("Order", emits=["order.placed"], flows=["orders"]),
        event("Bill", subscribes=["order.placed"], flows=["orders"]),
    ):
        graph = flow_graph("orders")
    assert [n["id"] for n in graph["nodes"]] == ["step:Bill", "step:Order"]  # no topic node: both ends are here
    assert graph["edges"] == [{"id": "e0", "source": "step:Order", "target": "step:Bill", "kind": "topic",
                               "label": "order.placed", "virtual": False, "topic": "order.placed"}]


def test_a_step_in_two_flows_is_drawn_in_both() -> None:
    with registered(
        event("Audit", subscribes=["paid"], emits=["audited"], flows=["billing", "compliance"]),
        api("Pay", emits=["paid"], flows=["billing"]),
        event("Report", subscribes=["audited"], flows=["compliance"]),
    ):
        graphs = {g["flow"]: g for g in flow_graphs()["graphs"]}
        assert flow_graphs("compliance")["graphs"] == [graphs["compliance"]]
    assert list(graphs) == ["billing", "compliance"]
    assert edges_of(graphs["billing"]) == {("step:Pay", "step:Audit", "topic", "paid"),
                                           ("step:Audit", "topic:audited", "topic", "audited")}
    assert edges_of(graphs["compliance"]) == {("topic:paid", "step:Audit", "topic", "paid"),
                                              ("step:Audit", "step:Report", "topic", "audited")}
    audit = next(n for n in graphs["compliance"]["nodes"] if n["id"] == "step:Audit")
    assert audit["flows"] == ["billing", "compliance"]
    # a topic leaving the flow is a node of its own that says where it goes (or comes from)
    topics = {n["id"]: n["detail"] for g in graphs.values() for n in g["nodes"] if n["kind"] == "topic"}
    assert topics == {"topic:audited": "topic · subscribed in compliance", "topic:paid": "topic · emitted in billing"}


def test_a_flow_with_no_edges() -> None:
    with registered(build_step({"type": "cron", "name": "Tidy", "cron": "0 3 * * *", "flows": ["chores"]},
                               lambda c: None, "t")):
        graph = flow_graph("chores", next_runs={})
    assert graph["edges"] == []
    assert [(n["id"], n["kind"], n["detail"]) for n in graph["nodes"]] == [("step:Tidy", "cron", "cron 0 3 * * *")]


def test_unmatched_topics_say_so_and_steps_without_a_flow_come_last() -> None:
    with registered(event("Lonely", emits=["nobody.listens"], subscribes=["nobody.sends"]),
                    api("Other", flows=["a"])):
        data = flow_graphs()
    assert data["flows"] == ["a", NO_FLOW] and [g["flow"] for g in data["graphs"]] == ["a", NO_FLOW]
    nodes = {n["id"]: n["detail"] for n in data["graphs"][1]["nodes"]}
    assert nodes == {"step:Lonely": "on nobody.sends", "topic:nobody.listens": "topic · no subscriber",
                     "topic:nobody.sends": "topic · no emitter"}


def test_streams_written_and_stream_triggers_are_edges_labelled_with_the_stream() -> None:
    writer = build_step({"type": "event", "name": "Writer", "subscribes": ["x"], "flows": ["f"]},
                        writes_messages, "not-a-file")
    assert stream_writes(writer) == {"chatMessage": ["set", "delete"]}
    counter = event("Counter", triggers=[{"type": "stream", "streamName": "chatMessage"}], flows=["f"])
    with registered(writer, counter):
        graph = flow_graph("f")
    edges = {e["kind"]: {k: v for k, v in e.items() if k != "id"} for e in graph["edges"]}
    assert edges["stream"] == {"source": "step:Writer", "target": "stream:chatMessage", "kind": "stream",
                               "label": "chatMessage", "virtual": False, "stream": "chatMessage",
                               "ops": ["set", "delete"]}
    assert edges["trigger"] == {"source": "stream:chatMessage", "target": "step:Counter", "kind": "trigger",
                                "label": "chatMessage", "virtual": False, "stream": "chatMessage"}
    assert [n["id"] for n in graph["nodes"] if n["kind"] == "stream"] == ["stream:chatMessage"]  # drawn once


def test_stream_writes_are_read_from_the_step_module(tmp_path: Any) -> None:
    module = tmp_path / "notify_step.py"
    module.write_text("from motia_django import streams\n"
                      "def helper(ctx):\n    getattr(ctx.streams, 'openai').update('g', 'i', [])\n"
                      "def handler(input, context):\n    streams.chatMessage.send({'groupId': 'g'}, {})\n"
                      "    helper(context)\n")
    step = build_step({"type": "event", "name": "Notify", "subscribes": ["x"]}, lambda i, c: None, str(module))
    assert stream_writes(step) == {"chatMessage": ["send"], "openai": ["update"]}
    module.write_text("def handler(:\n")  # a file that does not parse: no writes, no error
    assert stream_writes(step) == {}


def test_flow_graph_survives_a_cycle() -> None:
    with registered(event("A", subscribes=["x"], emits=["y"]), event("B", subscribes=["y"], emits=["x"])):
        graph = flow_graph(NO_FLOW)
    assert len(graph["nodes"]) == 2
    assert edges_of(graph) == {("step:A", "step:B", "topic", "y"), ("step:B", "step:A", "topic", "x")}


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
    assert set(edges) == {("step:Nightly", "step:HumanApproval"), ("step:HumanApproval", "step:Ship")}
    review = edges[("step:Nightly", "step:HumanApproval")]
    assert review["virtual"] and review["label"] == "order.review"  # emitted, but subscribed virtually
    approved = edges[("step:HumanApproval", "step:Ship")]
    assert approved["virtual"] and approved["label"] == "approved by a human"  # the emit's label
    assert approved["topic"] == "order.approved"

    enqueue_due_ticks(step_registry.cron_steps)  # a runner has seen the step: its next run is known
    nightly = next(n for n in flow_graphs()["graphs"][0]["nodes"] if n["id"] == "step:Nightly")
    assert nightly["nextRun"].endswith("+00:00")
