"""motia_django.workbench.views: the pages (endpoints, streams, flows, events) through Django's test client:
their content and escaping. The live parts are tested in Chromium in tests/scenarios/browser/."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from motia_django.models import Event
from motia_django.stream.registry import streams
from tests.workbench.helpers import chat

#: sha256 of elkjs 0.12.1's lib/elk.bundled.js (vendor/README.md says how to check and upgrade it).
ELK_SHA256 = "b1032b7cfd2a57c54c6f0e8369d7665e19a579954f7cd20a6dae28f1912ea0d7"


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

    def test_flows_page_has_one_graph_per_flow(self, client: Client) -> None:
        html = client.get("/flows").content.decode()
        assert html.count('data-testid="flow-graph"') == 4
        for flow in ("chat", "housekeeping", "open-ai", "todos"):
            assert f'<section class="wb-flow" data-flow="{flow}"' in html
        assert "vendor/elk.bundled.js" in html  # the layout library, before workbench.js
        assert html.index("vendor/elk.bundled.js") < html.index("workbench/workbench.js")
        assert "(no flow)" not in html

    def test_flows_page_embeds_each_graph_and_lists_it_as_text(self, client: Client) -> None:
        html = client.get("/flows?flow=open-ai").content.decode()
        assert html.count('data-testid="flow-graph"') == 1
        data = re.findall(r'<script type="application/json">(.*?)</script>', html, re.S)
        assert [json.loads(d)["flow"] for d in data] == ["open-ai"]
        assert {n["id"] for n in json.loads(data[0])["nodes"]} == {"step:OpenAiApi", "step:CallOpenAi",
                                                                  "stream:openai"}
        assert 'data-edge="step:OpenAiApi step:CallOpenAi">OpenAiApi → CallOpenAi: <code>openai-prompt</code>' in html
        assert "CreateChatMessage" not in html
        html = client.get("/flows?flow=housekeeping").content.decode()
        assert 'data-node="step:CleanUpFinishedEvents"' in html
        assert "cron 0 3 * * *" in html and "schedule 0 3 * * * (UTC)" in html
        assert "No edges" in html
        assert "cron step" in html and "virtual emit or subscribe" in html  # the legend

    def test_flows_page_for_an_unknown_flow(self, client: Client) -> None:
        html = client.get("/flows?flow=nope").content.decode()
        assert "No steps in this flow." in html

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
        for name in ("workbench.js", "workbench.css", "vendor/stream-client-browser.js", "vendor/elk.bundled.js",
                     "vendor/elkjs-LICENSE.md", "vendor/README.md"):
            assert finders.find(f"motia_django/workbench/{name}"), name
        vendored = finders.find("motia_django/workbench/vendor/stream-client-browser.js")
        with open(vendored, encoding="utf-8") as fh:
            head = fh.read(400)
        assert "@motiadev/stream-client-browser@0.17.14-beta.196" in head
        assert "client_build/build.sh" in head
        with open(finders.find("motia_django/workbench/vendor/elk.bundled.js"), encoding="utf-8") as fh:
            elk = fh.read()
        assert "elkjs 0.12.1" in elk[:400] and "EPL-2.0 OR GPL-3.0-or-later" in elk[:600]
        assert "Eclipse Public License 2.0" in elk[600:]  # upstream's own notices are kept
        body = elk.split("\n", 7)[7].encode()
        assert hashlib.sha256(body).hexdigest() == ELK_SHA256, "vendor/elk.bundled.js is upstream's, unmodified"


@pytest.mark.django_db
@pytest.mark.usefixtures("graph_steps", "debug_on")
def test_flows_page_lists_virtual_edges_with_labels(client: Client) -> None:
    html = client.get("/flows").content.decode()
    assert html.count(", virtual</span>") == 2
    assert "HumanApproval → Ship: <code>approved by a human</code>" in html
    assert 'wb-flow-node-noop" data-node="step:HumanApproval"' in html
    assert 'wb-flow-node-cron" data-node="step:Nightly"' in html


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
