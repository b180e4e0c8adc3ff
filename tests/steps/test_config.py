"""Step discovery and config checks: each problem is a system check message naming the file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from django.core import checks

from motia_django.steps.registry import step_registry
from tests.support.steps import EXAMPLE_STEPS, FIXTURES

HANDLER = "\n\nasync def handler(req, context):\n    return {'status': 200, 'body': {}}\n"


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def load(settings, *dirs: Path) -> list[checks.CheckMessage]:
    settings.MOTIA = {"STEPS_DIRS": [EXAMPLE_STEPS / "streams", *dirs]}
    step_registry.load()
    return [m for m in checks.run_checks(tags=["motia_django"]) if m.id.startswith("motia_django.")]


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [m.id for m in messages]


def test_the_example_project_loads_cleanly():
    assert step_registry.errors == []
    names = {s.name for s in step_registry.steps}
    assert {"CreateChatMessage", "UpdateChatMessage", "DeleteChatMessage", "ListChatMessages", "ChatTyping",
            "OpenAiApi", "CallOpenAi"} <= names
    assert [s.name for s in step_registry.subscribers("openai-prompt")] == ["CallOpenAi"]
    api = step_registry.get("UpdateChatMessage")
    assert (api.type, api.method, api.path, api.path_params) == ("api", "PUT", "/chat-messages/:channelId/:messageId",
                                                                 ["channelId", "messageId"])
    assert api.body_schema is not None and 200 in api.response_schema
    event = step_registry.get("CallOpenAi")
    assert event.input_schema is not None and event.flows == ["open-ai"] and event.is_async
    assert ({s.name for s in step_registry.api_steps} | {s.name for s in step_registry.event_steps}
            | {s.name for s in step_registry.cron_steps}) == names
    assert event.origin.endswith("call_open_ai_step.py")
    cron = step_registry.get("CleanUpFinishedEvents")
    assert (cron.type, cron.cron, cron.flows, cron.is_async) == ("cron", "0 3 * * *", ["housekeeping"], False)


@pytest.mark.parametrize(("source", "error_id", "words"), [
    ("config = {'type': 'api', 'name': 'A', 'path': '/a', 'method': 'POST'}\n", "motia_django.E104", "handler"),
    ("config = {'type': 'queue', 'name': 'A'}" + HANDLER, "motia_django.E102", "unknown type"),
    ("config = {'type': 'cron', 'name': 'A'}" + HANDLER, "motia_django.E112", "needs a cron expression"),
    ("config = {'type': 'cron', 'name': 'A', 'cron': '*/5 * * *'}" + HANDLER, "motia_django.E112", "4 fields"),
    ("config = {'type': 'cron', 'name': 'A', 'cron': '0 25 * * *'}" + HANDLER, "motia_django.E112",
     "not a valid cron expression"),
    ("config = {'type': 'cron', 'name': 'A', 'cron': '0 0 30 2 *'}" + HANDLER, "motia_django.E112", "never fires"),
    ("config = {'type': 'cron', 'name': 'A', 'cron': '* * * * *'}\n", "motia_django.E104", "handler"),
    ("config = {'type': 'noop', 'name': 'A', 'virtualSubscribes': 'x'}\n", "motia_django.E116",
     "virtualSubscribes"),
    ("config = {'type': 'noop', 'name': 'A', 'description': 3}\n", "motia_django.E108", "description"),
    ("config = {'type': 'api', 'path': '/a', 'method': 'GET'}" + HANDLER, "motia_django.E103", "no name"),
    ("config = {'type': 'api', 'name': 'A', 'method': 'GET'}" + HANDLER, "motia_django.E105", "path"),
    ("config = {'type': 'api', 'name': 'A', 'path': 'a', 'method': 'GET'}" + HANDLER, "motia_django.E105", "path"),
    ("config = {'type': 'api', 'name': 'A', 'path': '/a/:b-c', 'method': 'GET'}" + HANDLER,
     "motia_django.E105", "segment"),
    ("config = {'type': 'api', 'name': 'A', 'path': '/a/:x/:x', 'method': 'GET'}" + HANDLER,
     "motia_django.E105", "repeated"),
    ("config = {'type': 'api', 'name': 'A', 'path': '/a', 'method': 'FETCH'}" + HANDLER, "motia_django.E114",
     "method"),
    ("config = {'type': 'api', 'name': 'A', 'path': '/a', 'method': 'POST', 'bodySchema': {'type': 'nope'}}"
     + HANDLER, "motia_django.E106", "bodySchema"),
    ("config = {'type': 'api', 'name': 'A', 'path': '/a', 'method': 'POST', 'responseSchema': {'ok': {}}}"
     + HANDLER, "motia_django.E115", "responseSchema"),
    ("config = {'type': 'api', 'name': 'A', 'path': '/a', 'method': 'GET', 'queryParams': ['limit']}"
     + HANDLER, "motia_django.E117", "queryParams"),
    ("config = {'type': 'event', 'name': 'A'}" + HANDLER, "motia_django.E107", "subscribes"),
    ("config = {'type': 'event', 'name': 'A', 'subscribes': ['t'], 'emits': 't'}" + HANDLER,
     "motia_django.E116", "emits"),
    ("config = {'type': 'event', 'name': 'A', 'subscribes': ['t'], 'input': 3}" + HANDLER,
     "motia_django.E106", "input"),
    ("config = {'type': 'api', 'name': 'A', 'path': '/a', 'method': 'GET', "
     "'permission_classes': ['no.such.Class']}" + HANDLER, "motia_django.E111", "cannot be imported"),
    ("config = {'type': 'event', 'name': 'A', 'subscribes': ['t'], 'timeout': 0}" + HANDLER, "motia_django.E119",
     "timeout must be a positive number"),
    ("config = {'type': 'event', 'name': 'A', 'subscribes': ['t'], 'timeout': '5'}" + HANDLER,
     "motia_django.E119", "timeout"),
    ("config = {'type': 'cron', 'name': 'A', 'cron': '* * * * *', 'timeout': True}" + HANDLER,
     "motia_django.E119", "timeout"),
    ("config = []" + HANDLER, "motia_django.E101", "dict"),
    ("handler = None\n", "motia_django.E101", "no module-level config"),
    ("import does_not_exist\n", "motia_django.E100", "failed to import"),
])
def test_bad_configs_are_check_errors_naming_the_file(settings, tmp_path, source, error_id, words):
    path = write(tmp_path, "bad_step.py", source)
    messages = load(settings, tmp_path)
    [message] = [m for m in messages if m.id == error_id]
    assert str(path) in message.msg and words in message.msg
    assert message.hint and message.level == checks.ERROR
    assert step_registry.steps == []


def test_duplicate_names_and_routes(settings, tmp_path):
    write(tmp_path, "a_step.py", "config = {'type': 'api', 'name': 'A', 'path': '/x/:id', 'method': 'GET'}"
          + HANDLER)
    second = write(tmp_path, "b_step.py", "config = {'type': 'api', 'name': 'A', 'path': '/y', 'method': 'GET'}"
                   + HANDLER)
    third = write(tmp_path, "c_step.py",
                  "config = {'type': 'api', 'name': 'C', 'path': '/x/:other', 'method': 'GET'}" + HANDLER)
    write(tmp_path, "d_step.py", "config = {'type': 'api', 'name': 'D', 'path': '/x/:id', 'method': 'PUT'}"
          + HANDLER)
    messages = load(settings, tmp_path)
    [dup_name] = [m for m in messages if m.id == "motia_django.E109"]
    assert str(second) in dup_name.msg and "a_step.py" in dup_name.msg
    [dup_route] = [m for m in messages if m.id == "motia_django.E110"]
    assert str(third) in dup_route.msg and "GET /x/:other" in dup_route.msg
    assert sorted(s.name for s in step_registry.steps) == ["A", "D"]


def test_subscribing_to_a_topic_nobody_emits_is_a_warning(settings, tmp_path):
    path = write(tmp_path, "lonely_step.py",
                 "config = {'type': 'event', 'name': 'Lonely', 'subscribes': ['nobody']}" + HANDLER)
    [message] = [m for m in load(settings, tmp_path) if m.id == "motia_django.W101"]
    assert str(path) in message.msg and message.level == checks.WARNING
    assert [s.name for s in step_registry.subscribers("nobody")] == ["Lonely"]


def test_emits_accepts_motia_topic_objects_and_noop_steps(settings, tmp_path):
    write(tmp_path, "noop_step.py", "config = {'type': 'noop', 'name': 'N', 'virtualEmits': [{'topic': 'v'}],"
                                    " 'emits': [{'topic': 't', 'label': 'T'}]}\n")
    write(tmp_path, "sub_step.py", "config = {'type': 'event', 'name': 'S', 'subscribes': ['t', 'v']}" + HANDLER)
    assert load(settings, tmp_path) == []
    noop = step_registry.get("N")
    assert (noop.emits, noop.virtual_emits, noop.handler) == (["t"], ["v"], None)


def test_noop_steps_with_virtual_subscribes_and_labels(settings, tmp_path):
    write(tmp_path, "approve_step.py", """
        config = {"type": "noop", "name": "HumanApproval", "description": "someone clicks approve",
                  "virtualSubscribes": ["order.review"], "virtualEmits": [{"topic": "order.approved",
                  "label": "approved by a human"}], "flows": ["orders"]}
    """)
    write(tmp_path, "review_step.py", "config = {'type': 'event', 'name': 'Review', 'subscribes': ['order.placed'], "
                                      "'emits': [{'topic': 'order.review', 'label': 'needs review'}]}" + HANDLER)
    write(tmp_path, "ship_step.py", "config = {'type': 'event', 'name': 'Ship', 'subscribes': ['order.approved']}"
          + HANDLER)
    assert ids(load(settings, tmp_path)) == ["motia_django.W101"]  # order.placed: plain code emits it
    noop = step_registry.get("HumanApproval")
    assert (noop.virtual_subscribes, noop.virtual_emits, noop.subscribes, noop.handler) == (
        ["order.review"], ["order.approved"], [], None)
    assert noop.labels == {"order.approved": "approved by a human"}
    assert step_registry.get("Review").labels == {"order.review": "needs review"}
    assert step_registry.subscribers("order.review") == []  # virtual: no event is stored for a noop step


def test_cron_steps_load(settings, tmp_path):
    write(tmp_path, "tick_step.py", "config = {'type': 'cron', 'name': 'Tick', 'cron': ' */5  * * * * ', "
                                    "'emits': ['t']}\n\ndef handler(context):\n    pass\n")
    write(tmp_path, "daily_step.py", "config = {'type': 'cron', 'name': 'Daily', 'cron': '@daily'}\n\n"
                                     "async def handler(context):\n    pass\n")
    assert load(settings, tmp_path) == []
    tick, daily = step_registry.get("Tick"), step_registry.get("Daily")
    assert (tick.cron, tick.emits, tick.is_async, daily.cron, daily.is_async) == (
        "*/5 * * * *", ["t"], False, "@daily", True)
    assert {s.name for s in step_registry.cron_steps} == {"Daily", "Tick"}
    assert step_registry.event_steps == [] and step_registry.api_steps == []


def test_fixture_steps_load_cleanly(settings):
    assert load(settings, FIXTURES / "flows") == []
    assert load(settings, FIXTURES / "motia_pydantic") == []
    assert load(settings, FIXTURES / "cron") == []
