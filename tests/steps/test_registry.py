"""motia_django.steps.registry: ``step_registry`` (steps by type, by topic and by watched stream) and the problems
it reports (duplicate names E109, duplicate routes E110, and the rest as check messages naming the file)."""

from __future__ import annotations

import textwrap

import pytest

from motia_django.steps.registry import step_registry
from motia_django.stream.changes import recorded
from tests.support.steps import EXAMPLE_STEPS, FIXTURES, use_steps


@pytest.fixture
def steps(settings):
    use_steps(settings, FIXTURES / "flows", FIXTURES / "cron", FIXTURES / "triggers")


@pytest.fixture
def folder(settings, tmp_path):
    """Step modules written into a folder of their own (besides the example's streams)."""

    def write(files: dict[str, str]) -> None:
        for name, body in files.items():
            (tmp_path / name).write_text(textwrap.dedent(body))
        use_steps(settings, tmp_path)

    write.path = tmp_path
    return write


def api(name: str, method: str, path: str) -> str:
    return (f"config = {{'type': 'api', 'name': {name!r}, 'method': {method!r}, 'path': {path!r}}}\n"
            "def handler(req, context):\n    return {'status': 200, 'body': {}}\n")


def by_id(errors, id: str) -> list:
    return [e for e in errors if e.id == id]


def test_steps_by_type(steps):
    names = {s.name for s in step_registry.steps}
    assert {"Echo", "Ping", "Pong", "EveryMinute", "NightlyReport", "WatchItem"} <= names
    assert all(s.type == "api" for s in step_registry.api_steps) and "Echo" in {s.name for s in step_registry.api_steps}
    assert {s.name for s in step_registry.event_steps} >= {"Ping", "Pong", "ReportSent", "WatchItem", "WatchRoom"}
    assert {s.name for s in step_registry.cron_steps} == {"EveryMinute", "NightlyReport"}
    typed = [*step_registry.api_steps, *step_registry.event_steps, *step_registry.cron_steps]
    assert {s.name for s in typed} <= names
    folders = [str(FIXTURES / f) for f in ("flows", "cron", "triggers")]  # the STEPS_DIRS order, each sorted
    origins = [s.origin for s in step_registry.steps]
    assert origins == sorted(origins, key=lambda o: (folders.index(o.rsplit("/", 1)[0]), o))


def test_get_and_cron_step(steps):
    ping = step_registry.get("Ping")
    assert ping.type == "event" and ping.origin.endswith("flows/ping_step.py")
    with pytest.raises(KeyError):
        step_registry.get("NoSuchStep")
    assert step_registry.cron_step("EveryMinute").cron == "* * * * *"
    with pytest.raises(KeyError, match="'Ping' is a event step, not a cron step"):
        step_registry.cron_step("Ping")
    with pytest.raises(KeyError):
        step_registry.cron_step("NoSuchStep")


def test_subscribers_of_a_topic(steps):
    assert [s.name for s in step_registry.subscribers("tests.ping")] == ["Ping"]
    assert [s.name for s in step_registry.subscribers("cron.report")] == ["ReportSent"]
    assert step_registry.subscribers("nobody.listens") == []
    step_registry.subscribers("tests.ping").clear()  # a copy
    assert step_registry.subscribers("tests.ping")


def test_stream_triggers_and_recorded_streams(steps):
    pairs = step_registry.stream_triggers("chatMessage")
    assert sorted(step.name for step, _ in pairs) == ["WatchItem", "WatchRoom"]
    assert all(trigger.stream == "chatMessage" for _, trigger in pairs)
    assert step_registry.stream_triggers("openai") == []
    assert recorded("chatMessage") and not recorded("openai")


def test_a_reload_without_triggers_stops_recording(settings, steps):
    assert recorded("chatMessage")
    use_steps(settings, FIXTURES / "flows")
    assert not recorded("chatMessage")


def test_duplicate_step_names_are_e109(folder):
    folder({"a_step.py": api("Same", "GET", "/a"), "b_step.py": api("Same", "GET", "/b")})
    (error,) = by_id(step_registry.errors, "motia_django.E109")
    assert str(folder.path / "b_step.py") in error.msg and str(folder.path / "a_step.py") in error.msg
    assert "'Same' is already used" in error.msg and error.hint
    assert step_registry.get("Same").path == "/a"  # the first one stays


def test_duplicate_routes_are_e110(folder):
    folder({"a_step.py": api("First", "GET", "/items/:id"), "b_step.py": api("Second", "GET", "/items/:itemId"),
            "c_step.py": api("Third", "PUT", "/items/:itemId")})
    (error,) = by_id(step_registry.errors, "motia_django.E110")
    assert error.msg.startswith(str(folder.path / "b_step.py"))
    assert "GET /items/:itemId is already served by step 'First'" in error.msg
    assert {s.name for s in step_registry.api_steps} == {"First", "Third"}  # another method on the shape is fine


def test_broken_modules_are_reported_and_the_rest_register(folder):
    folder({"boom_step.py": "raise RuntimeError('boom')\n", "bare_step.py": "x = 1\n",
            "typeless_step.py": "config = {'name': 'Typeless'}\ndef handler(i, c): pass\n",
            "good_step.py": api("Good", "GET", "/good")})
    ids = sorted(e.id for e in step_registry.errors)
    assert ids == ["motia_django.E100", "motia_django.E101", "motia_django.E102"]
    assert [s.name for s in step_registry.steps] == ["Good"]


def test_a_subscription_nobody_emits_is_a_warning(folder):
    folder({"lonely_step.py": "config = {'type': 'event', 'name': 'Lonely', 'subscribes': ['nobody.emits']}\n"
                              "def handler(i, c): pass\n"})
    (warning,) = by_id(step_registry.errors, "motia_django.W101")
    assert "'Lonely' subscribes to 'nobody.emits'" in warning.msg
    assert [s.name for s in step_registry.subscribers("nobody.emits")] == ["Lonely"]  # still registered


def test_the_example_projects_steps_load_cleanly():
    assert step_registry.errors == []
    assert {s.origin.split("/steps/")[0] for s in step_registry.steps} == {str(EXAMPLE_STEPS.parent)}
