"""The flow context: trace id, logger records, streams, state, emit."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from motia_django import FlowContext, streams
from motia_django.exceptions import EmitError
from motia_django.steps.registry import step_registry
from motia_django.steps.state import state


def test_trace_id_and_alias():
    context = FlowContext("t-1")
    assert context.trace_id == context.traceId == "t-1"
    assert FlowContext().trace_id != FlowContext().trace_id
    assert context.streams is streams and context.state is state


def test_logger_records_are_structured(caplog):
    context = FlowContext("t-2", step_registry.get("CallOpenAi"))
    with caplog.at_level(logging.DEBUG, logger="motia_django.flow"):
        context.logger.info("hello", {"a": 1})
        context.logger.warn("careful")
        context.logger.warning("careful too")
        context.logger.error("bad", {"b": 2})
        context.logger.debug("details")
    records = [r for r in caplog.records if r.name == "motia_django.flow"]
    assert [r.levelname for r in records] == ["INFO", "WARNING", "WARNING", "ERROR", "DEBUG"]
    first = records[0]
    assert first.getMessage() == '[CallOpenAi] hello {"a": 1}'
    assert (first.trace_id, first.step, first.data, first.flows) == ("t-2", "CallOpenAi", {"a": 1}, ["open-ai"])


@pytest.mark.django_db
def test_emit_checks_the_steps_emits():
    context = FlowContext("t-3", step_registry.get("CallOpenAi"))  # emits: []
    with pytest.raises(EmitError, match="emits"):
        context.emit({"topic": "openai-prompt", "data": {"message": "x"}})
    api = FlowContext("t-4", step_registry.get("OpenAiApi"))
    [event_id] = api.emit({"topic": "openai-prompt", "data": {"message": "x"}})
    from motia_django.models import Event

    event = Event.objects.get(pk=event_id)
    assert (event.trace_id, event.emitted_by, event.step) == ("t-4", "OpenAiApi", "CallOpenAi")


@pytest.mark.django_db(transaction=True)
async def test_context_is_awaitable_in_async_code(settings):
    settings.MOTIA = {"EVENTS_IN_PROCESS": False}  # no background runner in the test process
    context = FlowContext("t-5", step_registry.get("OpenAiApi"))
    item = await context.streams.openai.set(context.trace_id, "message", {"message": "hi"})
    assert item["message"] == "hi"
    assert await context.state.set(context.trace_id, "k", [1, 2]) == [1, 2]
    assert await context.state.get(context.trace_id, "k") == [1, 2]
    ids = await context.emit({"topic": "openai-prompt", "data": {"message": "x"}})
    assert len(ids) == 1
    await close_executor_connection()


async def close_executor_connection() -> None:
    """Close the connection sync_to_async's worker thread opened, so the test database can be dropped."""
    await sync_to_async(connections.close_all)()
