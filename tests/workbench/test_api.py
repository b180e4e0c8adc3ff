"""motia_django.workbench.api: the JSON endpoints the workbench's pages load (steps, streams, groups, items,
events, the flow graphs), their answers and their errors."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from motia_django.models import Event
from motia_django.stream.registry import streams
from tests.workbench.helpers import chat


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
        data = client.get("/workbench/api/flows").json()
        assert data["flows"] == ["chat", "housekeeping", "open-ai", "todos"]
        graphs = {g["flow"]: g for g in data["graphs"]}
        assert list(graphs) == data["flows"]
        edges = {(e["source"], e["target"], e["label"]) for e in graphs["open-ai"]["edges"]}
        assert edges == {("step:OpenAiApi", "step:CallOpenAi", "openai-prompt"),
                         ("step:OpenAiApi", "stream:openai", "openai"), ("step:CallOpenAi", "stream:openai", "openai")}
        one = client.get("/workbench/api/flows?flow=open-ai").json()
        assert one["flow"] == "open-ai" and one["graphs"] == [graphs["open-ai"]]
        assert client.get("/workbench/api/flows?flow=nope").json()["graphs"] == [
            {"flow": "nope", "nodes": [], "edges": []}]
