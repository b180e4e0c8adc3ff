"""motia_django.workbench.views: the pages (endpoints, streams, flows, events) through Django's test client:
their content and escaping. The live parts are tested in Chromium in tests/scenarios/browser/."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from motia_django.models import Event
from motia_django.stream.registry import streams
from tests.workbench.helpers import chat


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
                                                  "factory": "tests.workbench.test_views.make_no_list_storage"}}}
    html = client.get("/streams?stream=nolist&group=g1").content.decode()
    assert "cannot list its groups" in html
    assert 'data-group="g1"' in html
    assert client.get("/workbench/api/streams/nolist/groups").status_code == 501
