"""OpenTelemetry spans (optional): steps and stream writes are spans carrying the Motia trace id, when a tracer
provider is set; nothing happens without one. The SDK's in-memory exporter records them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rest_framework.test import APIClient

from motia_django import tracing
from motia_django.stream.registry import streams
from motia_django.testing import run_pending_events
from tests.support.realtime import chat
from tests.support.steps import FIXTURES, use_steps

otel_trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A tracer provider for this test only (the global one can be set once per process)."""
    provider = sdk_trace.TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: provider)
    yield exporter
    provider.shutdown()


def named(exporter: InMemorySpanExporter, prefix: str) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def test_without_a_provider_nothing_is_traced(transactional_db):
    assert isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider)
    assert tracing.tracer() is None
    with tracing.step_span("S", "api", "t-1"):
        assert tracing.current_trace_id.get() is None  # not even the trace id is kept
    assert streams.chatMessage.set("room", "m1", chat("m1"))["id"] == "m1"


@pytest.mark.django_db(transaction=True)
def test_stream_writes_are_spans_with_stream_group_and_item(spans):
    chat_stream = streams.chatMessage
    chat_stream.set("room", "m1", chat("m1"))
    chat_stream.update("room", "m1", [{"type": "set", "path": "message", "value": "v2"}])
    chat_stream.delete("room", "m1")
    chat_stream.set("room", "m2", chat("m2"))
    chat_stream.clear("room")
    chat_stream.delete("room", "missing")
    got = [(s.name, dict(s.attributes)) for s in named(spans, "motia.stream.")]
    item = {"motia.stream": "chatMessage", "motia.group_id": "room"}
    assert got == [
        ("motia.stream.set chatMessage", {**item, "motia.stream.op": "set", "motia.item_id": "m1"}),
        ("motia.stream.update chatMessage", {**item, "motia.stream.op": "update", "motia.item_id": "m1"}),
        ("motia.stream.delete chatMessage", {**item, "motia.stream.op": "delete", "motia.item_id": "m1"}),
        ("motia.stream.set chatMessage", {**item, "motia.stream.op": "set", "motia.item_id": "m2"}),
        ("motia.stream.clear chatMessage", {**item, "motia.stream.op": "clear"}),
        ("motia.stream.delete chatMessage", {**item, "motia.stream.op": "delete", "motia.item_id": "missing"}),
    ]  # outside a step: no motia.trace_id


@pytest.mark.django_db(transaction=True)
def test_an_api_step_is_a_span_and_its_writes_are_its_children(spans):
    response = APIClient().post("/chat-messages", {"channel_id": "room-1", "message": "hi"}, format="json")
    assert response.status_code == 201
    trace_id = response["x-trace-id"]
    [step] = named(spans, "motia.step ")
    assert step.name == "motia.step CreateChatMessage"
    assert dict(step.attributes) == {"motia.trace_id": trace_id, "motia.step": "CreateChatMessage",
                                     "motia.step.kind": "api", "http.request.method": "POST",
                                     "http.route": "/chat-messages"}
    [write] = named(spans, "motia.stream.")
    assert write.attributes["motia.trace_id"] == trace_id  # made on the writer's database thread
    assert write.attributes["motia.group_id"] == "room-1"
    assert write.parent is not None and write.parent.span_id == step.context.span_id
    assert write.context.trace_id == step.context.trace_id


@pytest.mark.django_db
def test_event_steps_are_spans_with_their_event(settings, spans):
    use_steps(settings, FIXTURES / "flows", EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=3)
    response = APIClient().post("/echo/a/1", {}, format="json")  # a sync API step
    assert response.status_code == 200
    response = APIClient().post("/start", {"topic": "tests.ping", "data": {"n": 1}}, format="json")
    trace_id = response.json()["traceId"]
    assert run_pending_events() == 2
    by_name = {s.name: s for s in named(spans, "motia.step ")}
    assert set(by_name) == {"motia.step Echo", "motia.step Start", "motia.step Ping", "motia.step Pong"}
    assert by_name["motia.step Echo"].attributes["http.route"] == "/echo/:kind/:id"
    for name in ("Ping", "Pong"):
        attributes = by_name[f"motia.step {name}"].attributes
        assert attributes["motia.trace_id"] == trace_id and attributes["motia.step.kind"] == "event"
        assert attributes["motia.event.topic"] == f"tests.{name.lower()}"
        assert attributes["motia.event.attempt"] == 1 and isinstance(attributes["motia.event.id"], int)


@pytest.mark.django_db
def test_a_failing_step_records_the_error_on_its_span(settings, spans):
    use_steps(settings, FIXTURES / "flows", EVENT_RETRY_BACKOFF=0, EVENT_MAX_ATTEMPTS=3)
    assert APIClient().get("/boom").status_code == 500
    [span] = named(spans, "motia.step Boom")
    assert span.status.status_code == otel_trace.StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


@pytest.mark.django_db(transaction=True)
async def test_writes_batched_together_keep_their_own_step(spans):
    async def step(trace_id: str, item: str) -> None:
        with tracing.step_span(f"Step-{trace_id}", "event", trace_id):
            await streams.chatMessage.aset("batched", item, chat(item))

    await asyncio.gather(*(step(f"t{i}", f"m{i}") for i in range(4)))  # the writer commits several at once
    steps = {s.attributes["motia.trace_id"]: s for s in named(spans, "motia.step ")}
    writes = named(spans, "motia.stream.set")
    assert len(writes) == 4
    for write in writes:
        owner = steps[write.attributes["motia.trace_id"]]
        assert owner.name == f"motia.step Step-{write.attributes['motia.trace_id']}"
        assert write.attributes["motia.item_id"] == f"m{write.attributes['motia.trace_id'][1:]}"
        assert write.parent is not None and write.parent.span_id == owner.context.span_id
