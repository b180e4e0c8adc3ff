"""Stream triggers: an event step runs on a stream's changes (filtered by group, item and condition), stored
with the write itself (no event for a rolled-back write), with the previous item where it is known; the
example's CountTodos keeps todoStats right. tests/test_worker.py shows a trigger surviving a worker restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings

from example_project.todo.models import Todo
from motia_django import streams
from motia_django.checks import check_steps
from motia_django.models import Event
from motia_django.steps.registry import step_registry
from motia_django.steps.state import state
from motia_django.testing import run_pending_events
from tests.support.realtime import chat

FIXTURES = Path(__file__).parents[1] / "steps_fixtures"
EXAMPLE = Path(__file__).parents[2] / "example_project" / "steps"
WATCHING = {"STEPS_DIRS": [EXAMPLE, FIXTURES / "triggers"], "EVENTS_IN_PROCESS": False}  # run_pending_events

pytestmark = pytest.mark.django_db(transaction=True)


def triggered(step: str) -> list[dict]:
    return [e.data for e in Event.objects.filter(step=step).order_by("pk")]


def test_matching_changes_store_one_event_each_and_the_handler_gets_the_change():
    with override_settings(MOTIA=WATCHING):
        streams.chatMessage.set("watched", "m1", chat("m1", "long enough"))
        streams.chatMessage.set("watched", "m2", chat("m2", "no"))  # the condition says no
        streams.chatMessage.set("elsewhere", "m3", chat("m3", "long enough"))  # another group
        streams.chatMessage.update("watched", "m1", [{"type": "set", "path": "message", "value": "edited!"}])
        streams.chatMessage.delete("watched", "m1")
        events = triggered("WatchRoom")
        assert [(e["id"], e["event"]["type"]) for e in events] == [("m1", "create"), ("m1", "update"),
                                                                   ("m1", "delete")]
        create, update, delete = events
        assert create == {"type": "stream", "streamName": "chatMessage", "groupId": "watched", "id": "m1",
                          "timestamp": create["timestamp"], "event": {"type": "create",
                                                                      "data": chat("m1", "long enough")},
                          "previous": None}  # a set reads nothing before it writes
        assert update["previous"] == chat("m1", "long enough")  # update ops read the item under a lock
        assert delete["previous"] == chat("m1", "edited!") == delete["event"]["data"]
        assert Event.objects.filter(step="WatchRoom").first().topic == "stream:chatMessage"
        assert run_pending_events() == 3
        assert state.get("watched", "m1:update")["event"]["data"]["message"] == "edited!"


def test_a_rolled_back_write_triggers_nothing_and_a_raising_condition_only_logs(caplog):
    with override_settings(MOTIA=WATCHING):
        with pytest.raises(RuntimeError), transaction.atomic():
            streams.chatMessage.set("watched", "m1", chat("m1", "rolled back"))
            assert len(triggered("WatchRoom")) == 1  # stored with the write...
            raise RuntimeError
        assert triggered("WatchRoom") == []  # ...and gone with it
        with caplog.at_level(logging.ERROR, logger="motia_django.events"):
            streams.chatMessage.set("watched", "m2", chat("m2", "boom"))
        assert streams.chatMessage.get("watched", "m2") is not None and triggered("WatchRoom") == []
        assert "condition of step 'WatchRoom' raised" in caplog.text


async def test_async_writes_trigger_too_and_an_item_trigger_sees_only_its_item():
    with override_settings(MOTIA=WATCHING):
        await streams.chatMessage.aset("any", "pinned", chat("pinned"))
        await streams.chatMessage.aset("any", "other", chat("other"))
        await streams.chatMessage.aupdate("any", "pinned", [{"type": "set", "path": "message", "value": "x"}])
        events = [e async for e in Event.objects.filter(step="WatchItem").order_by("pk").values_list("data", flat=True)]
        assert [(e["id"], e["event"]["type"]) for e in events] == [("pinned", "create"), ("pinned", "update")]


def test_the_example_keeps_todo_counts():
    milk = Todo.objects.create(list_id="home", title="milk")
    Todo.objects.create(list_id="home", title="eggs")
    milk.done = True
    milk.save()
    assert [e.data["event"]["type"] for e in Event.objects.filter(step="CountTodos").order_by("pk")] == ["create", "create",
                                                                                          "update"]
    assert run_pending_events() == 3
    assert streams.todoStats.get("home", "counts") == {"id": "counts", "total": 2, "done": 1}
    milk.delete()
    run_pending_events()
    assert streams.todoStats.get("home", "counts") == {"id": "counts", "total": 1, "done": 0}


def test_bad_triggers_are_check_errors(tmp_path):
    (tmp_path / "bad_step.py").write_text(
        'config = {"type": "event", "name": "Bad", "triggers": [{"type": "queue", "topic": "x"}]}\n'
        "def handler(input, context): pass\n")
    (tmp_path / "lost_step.py").write_text(
        'config = {"type": "event", "name": "Lost", "triggers": [{"type": "stream", "streamName": "nope"}]}\n'
        "def handler(input, context): pass\n")
    (tmp_path / "neither_step.py").write_text(
        'config = {"type": "event", "name": "Neither"}\ndef handler(input, context): pass\n')
    with override_settings(MOTIA={"STEPS_DIRS": [EXAMPLE, tmp_path]}):
        errors = {e.msg.split(":")[0].rsplit("/", 1)[-1]: e for e in check_steps()}
        assert errors["bad_step.py"].id == "motia_django.E113" and "only stream triggers" in errors["bad_step.py"].msg
        assert errors["lost_step.py"].id == "motia_django.E118" and "'nope'" in errors["lost_step.py"].msg
        assert errors["neither_step.py"].id == "motia_django.E107"
        assert "Lost" in [s.name for s in step_registry.event_steps] and "Bad" not in step_registry
