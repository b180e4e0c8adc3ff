"""API steps as DRF views: the example project's contract (test client and real HTTP on Daphne), the req
mapping, schemas, errors, permissions, CORS and OpenAPI."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.support.steps import FIXTURES, flow_steps, use_steps  # noqa: F401 - fixture


@pytest.fixture
def client() -> APIClient:
    return APIClient()


# --- the example project's contract, through the test client -----------------------------------------------


@pytest.mark.django_db
class TestChatContract:
    def create(self, client: APIClient, channel: str = "room-1", message: str = "hi") -> dict[str, Any]:
        response = client.post("/chat-messages", {"channel_id": channel, "message": message}, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    def test_async_step_applies_drf_authentication_and_permissions(self, client, monkeypatch, django_user_model):
        # An async handler runs on the loop; DRF's checks (which may query the database) run before it.
        from rest_framework.authentication import SessionAuthentication
        from rest_framework.permissions import IsAuthenticated

        from motia_django.steps.views import StepView

        monkeypatch.setattr(StepView, "authentication_classes", [SessionAuthentication])
        monkeypatch.setattr(StepView, "permission_classes", [IsAuthenticated])
        response = client.post("/chat-messages", {"channel_id": "c", "message": "m"}, format="json")
        assert response.status_code == 403
        client.force_authenticate(django_user_model.objects.create_user("ann", password="pw"))
        self.create(client, channel="c")

    def test_create_returns_the_stream_item(self, client):
        item = self.create(client)
        assert item["user_id"] == "example-user-id"
        assert item["message"] == "hi"
        assert item["timestamp"]
        assert item["__motia"] == {"type": "state-stream", "streamName": "chatMessage", "groupId": "room-1",
                                   "id": item["id"]}

    def test_update_keeps_other_fields(self, client):
        item = self.create(client)
        response = client.put(f"/chat-messages/room-1/{item['id']}", {"message": "edited"}, format="json")
        assert response.status_code == 200
        updated = response.json()
        assert updated["message"] == "edited"
        assert (updated["user_id"], updated["timestamp"], updated["id"]) == (
            item["user_id"], item["timestamp"], item["id"])

    def test_update_and_delete_of_a_missing_message_are_404(self, client):
        assert client.put("/chat-messages/room-1/nope", {"message": "x"}, format="json").status_code == 404
        assert client.delete("/chat-messages/room-1/nope").status_code == 404

    def test_delete_returns_the_deleted_item(self, client):
        item = self.create(client)
        response = client.delete(f"/chat-messages/room-1/{item['id']}")
        assert response.status_code == 200
        assert response.json()["id"] == item["id"]
        assert client.get("/chat-messages/room-1").json() == []

    def test_list_in_creation_order(self, client):
        ids = [self.create(client, "room-2", f"m{i}")["id"] for i in range(3)]
        self.create(client, "other-room")
        response = client.get("/chat-messages/room-2")
        assert response.status_code == 200
        assert [m["id"] for m in response.json()] == ids

    def test_typing_sends_an_ephemeral_event(self, client, django_capture_on_commit_callbacks):
        from motia_django.stream.changes import stream_changed

        seen = []

        def receiver(change, **kwargs):
            seen.append(change)

        stream_changed.connect(receiver)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post("/chat-messages/room-1/typing", {"user_id": "u1"}, format="json")
        finally:
            stream_changed.disconnect(receiver)
        assert response.status_code == 202
        [change] = seen
        assert (change.stream, change.group_id, change.id) == ("chatMessage", "room-1", None)
        assert change.event == {"type": "event", "event": {"type": "typing", "data": {"user_id": "u1"}}}

    def test_open_ai_returns_the_item_and_emits_the_prompt(self, client):
        from motia_django.models import Event
        from motia_django.testing import run_pending_events

        response = client.post("/open-ai", {"message": "hello there"}, format="json")
        assert response.status_code == 200
        body = response.json()
        trace_id = response["x-trace-id"]
        assert body["message"] == ""
        assert body["__motia"] == {"type": "state-stream", "streamName": "openai", "groupId": trace_id,
                                   "id": "message"}
        event = Event.objects.get(topic="openai-prompt")
        assert (event.step, event.trace_id, event.data) == ("CallOpenAi", trace_id, {"message": "hello there"})
        run_pending_events()
        from motia_django import streams

        assert streams.openai.get(trace_id, "message")["message"] == "echo: hello there"

    @pytest.mark.parametrize(("method", "url", "body"), [
        ("post", "/chat-messages", {"channel_id": "c"}),
        ("post", "/chat-messages", {"channel_id": 5, "message": "x"}),
        ("post", "/chat-messages", []),
        ("put", "/chat-messages/c/m", {}),
        ("put", "/chat-messages/c/m", {"message": None}),
        ("post", "/chat-messages/c/typing", {}),
        ("post", "/open-ai", {"message": 1}),
        ("post", "/open-ai", {}),
    ])
    def test_bad_bodies_are_400_with_the_errors(self, client, method, url, body):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 400
        payload = response.json()
        assert payload["error"] == "Invalid request body"
        assert payload["errors"] and all({"path", "message"} <= set(e) for e in payload["errors"])

    @pytest.mark.parametrize("escape", ["\\ud800", "a\\u0000b"])
    def test_a_string_the_rule_refuses_is_400_with_its_field_as_the_path(self, client, escape):
        body = '{"channel_id": "c", "message": "' + escape + '"}'
        response = client.post("/chat-messages", body.encode(), content_type="application/json")
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert "message: a string " in error["message"]
        assert error["path"] == "message"

    @pytest.mark.parametrize(("body", "path"), [
        ('{"channel_id": "c", "message": "x", "extra": [1, {"deep": "\\udc00"}]}', "extra.1.deep"),
        ('{"channel_id": "c", "message": 123456789012345678901234567890}', "message"),
        ('{"channel_id": "c", "message": NaN}', "message"),
        ('{"channel_id": "c", "message": "x"', ""),  # a syntax error: no value to name
        ("[" * 100 + "]" * 100, ""),  # too deep: the document
    ])
    def test_a_refused_body_names_the_path_it_can(self, client, body, path):
        response = client.post("/chat-messages", body.encode(), content_type="application/json")
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert error["path"] == path

    @pytest.mark.parametrize("raw", [b"{not json", b"", b"42"])
    def test_non_json_bodies_are_400(self, client, raw):
        response = client.post("/chat-messages", raw, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"] == "Invalid request body"

    def test_text_body_is_400(self, client):
        response = client.post("/chat-messages", b"hello", content_type="text/plain")
        assert response.status_code == 400

    def test_unknown_method_is_405(self, client):
        assert client.patch("/chat-messages", {}, format="json").status_code == 405

    def test_cors(self, client):
        response = client.options("/chat-messages/room-1/x", HTTP_ORIGIN="http://elsewhere",
                                  HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT",
                                  HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type")
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == "*"
        assert set(response["Access-Control-Allow-Methods"].split(", ")) == {"PUT", "DELETE", "OPTIONS"}
        assert response["Access-Control-Allow-Headers"] == "content-type"
        assert client.get("/chat-messages/room-1")["Access-Control-Allow-Origin"] == "*"

    def test_cors_can_be_turned_off(self, client, settings):
        settings.MOTIA = {"API_CORS_ORIGIN": None}
        assert "Access-Control-Allow-Origin" not in client.get("/chat-messages/room-1")

    def test_openapi_document(self, client):
        response = client.get("/openapi.json")
        assert response.status_code == 200
        doc = response.json()
        create = doc["paths"]["/chat-messages"]["post"]
        assert create["operationId"] == "CreateChatMessage"
        body = create["requestBody"]["content"]["application/json"]["schema"]
        assert body["required"] == ["channel_id", "message"]
        assert "201" in create["responses"]
        update = doc["paths"]["/chat-messages/{channelId}/{messageId}"]["put"]
        assert {p["name"] for p in update["parameters"]} == {"channelId", "messageId"}
        assert doc["paths"]["/open-ai"]["post"]["tags"] == ["open-ai"]


# --- the req mapping and the response, with test steps ----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("flow_steps")
class TestRequestAndResponse:
    def test_req_mapping(self, client):
        response = client.post("/echo/a/b?q=1&many=x&many=y", {"x": [1]}, format="json", HTTP_X_THING="yes")
        assert response.status_code == 200
        assert response["x-step"] == "Echo"
        body = response.json()
        req = body["req"]
        assert req["body"] == {"x": [1]}
        assert req["pathParams"] == {"kind": "a", "id": "b"}
        assert req["queryParams"] == {"q": "1", "many": ["x", "y"]}
        assert req["headers"]["x-thing"] == "yes"
        assert body["trace_id"] == body["traceId"] == response["x-trace-id"]

    def test_form_bodies_are_accepted_too(self, client):
        response = client.post("/echo/a/b", {"x": "1"})
        assert response.json()["req"]["body"] == {"x": "1"}

    def test_each_request_gets_a_new_trace_id(self, client):
        first = client.post("/echo/a/b", {}, format="json").json()["trace_id"]
        assert first != client.post("/echo/a/b", {}, format="json").json()["trace_id"]

    def test_handler_error_is_500_with_trace_id_and_no_traceback(self, client, caplog):
        with caplog.at_level(logging.ERROR, logger="motia_django.api"):
            response = client.get("/boom")
        assert response.status_code == 500
        body = response.json()
        assert body == {"error": "Internal Server Error", "traceId": response["x-trace-id"]}
        assert "secret" not in response.content.decode()
        [record] = [r for r in caplog.records if r.name == "motia_django.api"]
        assert record.trace_id == body["traceId"] and record.step == "Boom"
        assert "secret detail" in caplog.text  # the log has the traceback

    def test_handler_error_in_debug_shows_the_traceback(self, client, settings):
        settings.DEBUG = True
        body = client.get("/boom").json()
        assert "RuntimeError" in body["traceback"]

    def test_text_and_bytes_bodies(self, client):
        response = client.get("/text")
        assert (response.content, response["Content-Type"]) == (b"plain text", "text/plain; charset=utf-8")
        response = client.get("/text?kind=bytes")
        assert (response.content, response["Content-Type"]) == (b"\x00\x01", "application/x-test")

    def test_a_malformed_return_is_500(self, client):
        assert client.get("/text?kind=bad").status_code == 500

    def test_a_body_that_is_not_json_is_500_with_trace_id(self, client, caplog):
        with caplog.at_level(logging.ERROR, logger="motia_django.api"):
            response = client.get("/text?kind=notjson")
        assert response.status_code == 500
        assert response.json() == {"error": "Internal Server Error", "traceId": response["x-trace-id"]}
        assert "not JSON" in caplog.text

    def test_step_permission_classes(self, client, django_user_model):
        assert client.get("/private").status_code in (401, 403)
        user = django_user_model.objects.create_user("ann", password="pw")
        client.force_authenticate(user)
        response = client.get("/private")
        assert response.status_code == 200
        assert response.json() == {"user": "ann"}

    def test_response_schema_mismatch_is_logged_in_debug(self, client, settings, caplog):
        settings.DEBUG = True
        with caplog.at_level(logging.ERROR, logger="motia_django.api"):
            assert client.get("/wrong-response").status_code == 200
        assert "WrongResponse" in caplog.text and "responseSchema" in caplog.text

    def test_response_schema_is_not_checked_without_debug(self, client, caplog):
        with caplog.at_level(logging.ERROR, logger="motia_django.api"):
            client.get("/wrong-response")
        assert "responseSchema" not in caplog.text


@pytest.mark.django_db
def test_motias_pydantic_step_runs_as_written(client, settings):
    use_steps(settings, FIXTURES / "motia_pydantic")
    response = client.post("/chat-messages", {"channel_id": "c1", "message": "hello"}, format="json")
    assert response.status_code == 201
    assert response.json()["message"] == "hello"
    bad = client.post("/chat-messages", {"channel_id": "c1"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["path"] == "message"


# --- real HTTP against Daphne (embedded default: in-memory layer, events in the server process) -----------


def http(server: Any, method: str, path: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status, headers = response.read(), response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        raw, status, headers = exc.read(), exc.code, {k.lower(): v for k, v in exc.headers.items()}
    return status, json.loads(raw) if raw else None, headers


@pytest.mark.e2e
class TestLiveContract:
    def test_chat_messages(self, daphne_server):
        status, item, headers = http(daphne_server, "POST", "/chat-messages", {"channel_id": "live", "message": "a"})
        assert status == 201 and item["message"] == "a"
        assert headers["access-control-allow-origin"] == "*"
        status, updated, _ = http(daphne_server, "PUT", f"/chat-messages/live/{item['id']}", {"message": "b"})
        assert status == 200 and updated["message"] == "b" and updated["user_id"] == "example-user-id"
        status, items, _ = http(daphne_server, "GET", "/chat-messages/live")
        assert status == 200 and [i["id"] for i in items] == [item["id"]]
        assert http(daphne_server, "POST", "/chat-messages/live/typing", {"user_id": "u"})[0] == 202
        status, deleted, _ = http(daphne_server, "DELETE", f"/chat-messages/live/{item['id']}")
        assert status == 200 and deleted["id"] == item["id"]
        assert http(daphne_server, "DELETE", f"/chat-messages/live/{item['id']}")[0] == 404
        assert http(daphne_server, "PUT", "/chat-messages/live/nope", {"message": "x"})[0] == 404

    def test_bad_bodies(self, daphne_server):
        status, body, _ = http(daphne_server, "POST", "/chat-messages", {"message": 1})
        assert status == 400 and body["errors"]
        assert http(daphne_server, "POST", "/open-ai", {})[0] == 400

    def test_open_ai_streams_the_reply_in_the_server_process(self, daphne_server, live_db_url):
        status, item, headers = http(daphne_server, "POST", "/open-ai", {"message": "hi from the test"})
        assert status == 200 and item["message"] == ""
        trace_id = item["__motia"]["groupId"]
        assert headers["x-trace-id"] == trace_id
        deadline = time.monotonic() + 20
        reply = None
        while time.monotonic() < deadline:
            reply = stream_item(live_db_url, "openai", trace_id, "message")
            if reply and reply.get("message") == "echo: hi from the test":
                break
            time.sleep(0.1)
        assert reply == {"message": "echo: hi from the test"}, daphne_server.log()


def stream_item(database_url: str, stream: str, group: str, item: str) -> dict[str, Any] | None:
    """Read an item straight from the live server's database (SQLite file or PostgreSQL)."""
    query = "SELECT data FROM motia_django_streamitem WHERE stream = %s AND group_id = %s AND item_id = %s"
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.split("sqlite:///", 1)[1]) as conn:
            row = conn.execute(query.replace("%s", "?"), (stream, group, item)).fetchone()
    else:
        import psycopg

        with psycopg.connect(database_url) as conn:
            row = conn.execute(query, (stream, group, item)).fetchone()
    if row is None:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])


# --- a request's view and DRF Request are freed when it ends, not by the garbage collector --------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [("post", "/chat-messages"), ("get", "/chat-messages/room-1"),
                                              ("head", "/chat-messages/room-1")])
def test_a_requests_view_and_drf_request_leave_no_reference_cycle(client, monkeypatch, method, path):
    import gc
    import weakref

    from motia_django.steps.views import StepView

    made: list[weakref.ref[Any]] = []
    initialize = StepView.initialize_request

    def recorded(self: StepView, request: Any, *args: Any, **kwargs: Any) -> Any:
        drf_request = initialize(self, request, *args, **kwargs)
        made.extend([weakref.ref(self), weakref.ref(drf_request)])
        return drf_request

    monkeypatch.setattr(StepView, "initialize_request", recorded)
    gc.collect()
    gc.disable()
    try:
        response = getattr(client, method)(path, {"channel_id": "room-1", "message": "hi"}, format="json")
        assert response.status_code in (200, 201)
        assert len(made) == 2 and [ref() for ref in made] == [None, None]  # freed by reference counting alone
    finally:
        gc.enable()


# --- the body: parsed here for JSON, DRF's way otherwise ------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _drf_request(body: bytes, content_type: str) -> Any:
    from django.test import RequestFactory
    from rest_framework.request import Request

    from motia_django.steps.views import StepView

    django_request = RequestFactory().post("/x", body, content_type=content_type)
    return Request(django_request, parsers=[cls() for cls in StepView.parser_classes])


def _outcome(read: Any) -> tuple[str, Any]:
    try:
        return "data", read()
    except Exception as exc:  # the outcome is what is compared
        return type(exc).__name__, str(getattr(exc, "detail", exc))


@examples(max_examples=200, deadline=None)
@given(body=st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary(max_size=40)),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                     "application/x-www-form-urlencoded", "application/vnd.api+json"]))
def test_the_body_is_what_drf_would_parse(body, content_type):
    from motia_django.steps.views import StepView

    ours, theirs = _drf_request(body, content_type), _drf_request(body, content_type)
    assert _outcome(lambda: StepView.body_of(ours)) == _outcome(lambda: theirs.data)
    assert _outcome(lambda: ours.data) == _outcome(lambda: theirs.data)  # later reads: the same, not parsed again


def test_a_json_body_is_parsed_without_drfs_parser_selection(monkeypatch):
    from rest_framework.request import Request

    from motia_django.steps.views import StepView

    monkeypatch.setattr(Request, "_parse", lambda self: pytest.fail("DRF's _parse ran"))
    request = _drf_request(b'{"a": [1, 2]}', "application/json")
    assert StepView.body_of(request) == {"a": [1, 2]} == request.data
