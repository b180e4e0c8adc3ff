"""The workbench pages and JSON endpoints through Django's test client: content, escaping and access control.

The live parts (WebSocket, the OpenAI-style reply streaming in) are tested in a real browser in tests/browser/.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client, override_settings
from django.utils import timezone

from motia_django.models import Event
from motia_django.stream.registry import streams
from motia_django.workbench.catalog import example_for, flow_graph

PAGES = ["/endpoints", "/streams", "/flows", "/events"]
APIS = ["/workbench/api/steps", "/workbench/api/streams", "/workbench/api/streams/chatMessage/groups",
        "/workbench/api/streams/chatMessage/groups/room-1", "/workbench/api/events", "/workbench/api/flows"]

debug = override_settings(DEBUG=True)


@pytest.fixture
def debug_on(settings: Any) -> None:
    settings.DEBUG = True


def chat(message: str) -> dict[str, Any]:
    return {"id": "m1", "user_id": "u1", "message": message, "timestamp": "2025-01-01T00:00:00Z"}


# --- access ---------------------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES + APIS)
def test_on_in_debug(client: Client, url: str) -> None:
    with debug:
        assert client.get(url).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES + APIS)
def test_off_without_debug_by_default(client: Client, url: str) -> None:
    assert client.get(url).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES[:1] + APIS[:1])
def test_setting_false_turns_it_off_even_in_debug(client: Client, url: str) -> None:
    with override_settings(DEBUG=True, MOTIA={"WORKBENCH": False}):
        assert client.get(url).status_code == 404


@pytest.mark.django_db
class TestOptInWithoutDebug:
    """``MOTIA["WORKBENCH"] = True`` without DEBUG: active staff only."""

    @pytest.fixture(autouse=True)
    def _opt_in(self, settings: Any) -> None:
        settings.DEBUG = False
        settings.MOTIA = {**settings.MOTIA, "WORKBENCH": True}

    def test_anonymous_page_redirects_to_login(self, client: Client) -> None:
        response = client.get("/endpoints")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=/endpoints")

    def test_anonymous_json_is_403(self, client: Client) -> None:
        response = client.get("/workbench/api/streams")
        assert response.status_code == 403
        assert "staff" in response.json()["error"]

    def test_non_staff_user_is_403(self, client: Client) -> None:
        client.force_login(User.objects.create_user("bob", password="x"))
        assert client.get("/endpoints").status_code == 403
        assert client.get("/workbench/api/events").status_code == 403

    def test_inactive_staff_is_refused(self, client: Client) -> None:
        user = User.objects.create_user("carol", password="x", is_staff=True)
        client.force_login(user)
        User.objects.filter(pk=user.pk).update(is_active=False)
        assert client.get("/endpoints").status_code != 200

    @pytest.mark.parametrize("url", PAGES + APIS)
    def test_staff_gets_everything(self, client: Client, url: str) -> None:
        client.force_login(User.objects.create_user("alice", password="x", is_staff=True))
        assert client.get(url).status_code == 200


# --- pages ----------------------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.usefixtures("debug_on")
class TestPages:
    def test_endpoints_lists_every_api_step_by_flow(self, client: Client) -> None:
        html = client.get("/endpoints").content.decode()
        assert 'data-step="OpenAiApi"' in html
        assert 'data-method="POST" data-path="/open-ai"' in html
        assert "open-ai" in html and "Call OpenAI" in html
        # the body is prefilled from the body schema, and the schema is shown
        assert "&quot;message&quot;: &quot;string&quot;" in html
        assert "The message to send to OpenAI" in html
        # path parameters get inputs
        assert 'data-kind="path" data-name="channelId"' in html
        # the live client is the vendored Motia browser client, loaded through an import map
        assert "motia_django/workbench/vendor/stream-client-browser.js" in html

    def test_streams_page_shows_schema_groups_and_items(self, client: Client) -> None:
        streams.chatMessage.set("room-1", "m1", chat("hello"))
        html = client.get("/streams?stream=chatMessage&group=room-1").content.decode()
        assert "user_id" in html  # the schema
        assert 'href="?stream=chatMessage&amp;group=room-1"' in html  # the group list
        assert 'id="wb-group" data-stream="chatMessage" data-group="room-1"' in html
        assert "&quot;message&quot;: &quot;hello&quot;" in html

    def test_item_data_is_escaped(self, client: Client) -> None:
        streams.chatMessage.set("<b>g</b>", "m1", chat("<script>alert(1)</script>"))
        html = client.get("/streams", {"stream": "chatMessage", "group": "<b>g</b>"}).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<b>g</b>" not in html

    def test_unknown_stream_falls_back_to_a_plain_page(self, client: Client) -> None:
        assert client.get("/streams?stream=nope").status_code == 200

    def test_flows_page_draws_the_graph(self, client: Client) -> None:
        html = client.get("/flows?flow=open-ai").content.decode()
        assert 'data-node="step:OpenAiApi"' in html
        assert 'data-node="topic:openai-prompt"' in html
        assert 'data-node="step:CallOpenAi"' in html
        assert 'data-node="step:CreateChatMessage"' not in html
        html = client.get("/flows?flow=housekeeping").content.decode()
        assert 'class="wb-node wb-node-cron" transform' in html and 'data-node="step:CleanUpFinishedEvents"' in html
        assert "cron 0 3 * * *" in html and "schedule: 0 3 * * * (UTC)" in html
        assert "cron step" in html and "virtual emit or subscribe" in html  # the legend

    def test_events_page_shows_status_attempts_and_errors(self, client: Client) -> None:
        Event.objects.create(topic="openai-prompt", step="CallOpenAi", trace_id="t-1", status=Event.Status.DEAD,
                             attempts=5, last_error="RuntimeError: <boom>", available_at=timezone.now())
        Event.objects.create(topic="openai-prompt", step="CallOpenAi", trace_id="t-2", status=Event.Status.DONE,
                             attempts=1, available_at=timezone.now())
        html = client.get("/events").content.decode()
        assert "wb-status-dead" in html and "wb-status-done" in html
        assert "RuntimeError: &lt;boom&gt;" in html
        dead_only = client.get("/events?status=dead").content.decode()
        assert "t-1" in dead_only and "t-2" not in dead_only

    def test_static_files_are_found_by_the_finders(self) -> None:
        for name in ("workbench.js", "workbench.css", "vendor/stream-client-browser.js"):
            assert finders.find(f"motia_django/workbench/{name}"), name
        vendored = finders.find("motia_django/workbench/vendor/stream-client-browser.js")
        with open(vendored, encoding="utf-8") as fh:
            head = fh.read(400)
        assert "@motiadev/stream-client-browser@0.17.14-beta.196" in head
        assert "client_build/build.sh" in head


# --- JSON endpoints --------------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.usefixtures("debug_on")
class TestJson:
    def test_steps(self, client: Client) -> None:
        flows = {f["flow"]: f["steps"] for f in client.get("/workbench/api/steps").json()["flows"]}
        openai = next(s for s in flows["open-ai"] if s["name"] == "OpenAiApi")
        assert openai["method"] == "POST" and openai["path"] == "/open-ai"
        assert json.loads(openai["bodyExample"]) == {"message": "string"}
        assert openai["bodySchema"]["properties"]["message"]["type"] == "string"

    def test_streams_groups_items(self, client: Client) -> None:
        streams.chatMessage.set("room-1", "m1", chat("one"))
        streams.chatMessage.set("room-2", "m1", chat("two"))
        names = [s["name"] for s in client.get("/workbench/api/streams").json()["streams"]]
        assert {"chatMessage", "openai"} <= set(names)
        assert client.get("/workbench/api/streams/chatMessage/groups").json()["groups"] == ["room-1", "room-2"]
        items = client.get("/workbench/api/streams/chatMessage/groups/room-2").json()["items"]
        assert items == [chat("two")]

    def test_unknown_stream_is_404(self, client: Client) -> None:
        response = client.get("/workbench/api/streams/nope/groups")
        assert response.status_code == 404
        assert "nope" in response.json()["error"]

    def test_events_filter_and_bad_arguments(self, client: Client) -> None:
        Event.objects.create(topic="t", step="CallOpenAi", trace_id="x", status=Event.Status.FAILED,
                             last_error="input does not match", available_at=timezone.now())
        rows = client.get("/workbench/api/events?status=failed").json()["events"]
        assert [(r["status"], r["lastError"]) for r in rows] == [("failed", "input does not match")]
        assert client.get("/workbench/api/events?status=bogus").status_code == 400
        assert client.get("/workbench/api/events?limit=x").status_code == 400

    def test_flow_graph(self, client: Client) -> None:
        graph = client.get("/workbench/api/flows").json()
        pairs = {(e["source"], e["target"]) for e in graph["edges"]}
        assert ("step:OpenAiApi", "topic:openai-prompt") in pairs
        assert ("topic:openai-prompt", "step:CallOpenAi") in pairs
        assert "open-ai" in graph["flows"]


# --- helpers -----------------------------------------------------------------------------------------------------------

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


@pytest.mark.django_db
@pytest.mark.usefixtures("graph_steps", "debug_on")
def test_flows_page_draws_virtual_edges_dashed_with_labels(client: Client) -> None:
    html = client.get("/flows").content.decode()
    assert html.count('class="wb-edge wb-edge-virtual"') == 2
    assert '<text class="wb-edge-label"' in html and "approved by a human" in html
    assert 'class="wb-node wb-node-noop"' in html and 'class="wb-node wb-node-cron"' in html



def make_no_list_storage() -> Any:
    from motia_django.stream.backends.custom import StateStream

    class Storage(StateStream):
        def get(self, group_id: str, id: str) -> Any:
            return None

        def set(self, group_id: str, id: str, data: Any) -> Any:
            return data

        def delete(self, group_id: str, id: str) -> Any:
            return None

        def get_group(self, group_id: str) -> Any:
            return []

    return Storage()


@pytest.mark.django_db
@pytest.mark.usefixtures("debug_on")
def test_storage_that_cannot_list_groups(client: Client, settings: Any) -> None:
    settings.STREAMS = {"nolist": {"schema": {"type": "object"},
                                   "baseConfig": {"storageType": "custom",
                                                  "factory": "tests.workbench.test_workbench.make_no_list_storage"}}}
    html = client.get("/streams?stream=nolist&group=g1").content.decode()
    assert "cannot list its groups" in html
    assert 'data-group="g1"' in html
    assert client.get("/workbench/api/streams/nolist/groups").status_code == 501
