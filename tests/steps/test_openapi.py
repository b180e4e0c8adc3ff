"""motia_django.steps.openapi: each API step's operation in the OpenAPI document, built from its config (the
example project's steps, and a pydantic step whose ``$defs`` are inlined)."""

from __future__ import annotations

import importlib
import json
import textwrap
import types

import pytest
from django.test import Client
from django.urls import clear_url_caches, path
from drf_spectacular.views import SpectacularJSONAPIView
from pydantic import BaseModel

import motia_django.urls
from motia_django.steps.openapi import openapi_schema
from motia_django.steps.registry import step_registry
from motia_django.stream.schema import compile_schema
from tests.support.steps import use_steps


def refs(node) -> list[str]:
    """Every ``$ref`` left anywhere in ``node``."""
    text = json.dumps(node)
    return [part.split('"')[0] for part in text.split('"$ref": "')[1:]]


@pytest.fixture(scope="module")
def document():
    """``/openapi.json`` of the example project (motia_django.urls rebuilt from its steps first)."""
    importlib.reload(motia_django.urls)
    clear_url_caches()
    from django.test import override_settings

    with override_settings(ROOT_URLCONF="example_project.urls"):
        response = Client().get("/openapi.json")
    clear_url_caches()
    assert response.status_code == 200, response.content[:500]
    return response.json()


def operations(document) -> dict[str, tuple[str, str, dict]]:
    return {op["operationId"]: (route, method, op) for route, methods in document["paths"].items()
            for method, op in methods.items()}


def test_every_api_step_is_an_operation_named_after_it(document):
    ops = operations(document)
    for step in step_registry.api_steps:
        route, method, op = ops[step.name]
        assert method == step.method.lower()
        assert route == "/" + "/".join(f"{{{s[1:]}}}" if s.startswith(":") else s
                                       for s in step.path.strip("/").split("/"))
        assert op["summary"] == step.name and op.get("description", "") == step.description


def test_tags_are_the_steps_flows(document):
    ops = operations(document)
    assert ops["OpenAiApi"][2]["tags"] == ["open-ai"]
    assert ops["ListChatMessages"][2]["tags"] == ["chat"]
    assert ops["CreateChatMessage"][2]["tags"] == ["chat"]


def test_the_request_body_is_the_body_schema(document):
    ops = operations(document)
    body = ops["CreateChatMessage"][2]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["channel_id", "message"]
    assert schema["properties"] == {"channel_id": {"type": "string"}, "message": {"type": "string"}}
    assert "requestBody" not in ops["ListChatMessages"][2]  # no bodySchema


def test_responses_by_status_and_path_parameters(document):
    ops = operations(document)
    update = ops["UpdateChatMessage"][2]
    assert set(update["responses"]) == {"200", "404"}
    assert update["responses"]["404"]["content"]["application/json"]["schema"]["required"] == ["error"]
    assert [(p["in"], p["name"], p["required"]) for p in update["parameters"]] == [
        ("path", "channelId", True), ("path", "messageId", True)]
    assert ops["ChatTyping"][2]["responses"] == {"default": {"description": "The handler's response"}}


# --- pydantic schemas ----------------------------------------------------------------------------------------


class Address(BaseModel):
    city: str


class Person(BaseModel):
    name: str
    home: Address
    past: list[Address] = []


def test_openapi_schema_inlines_pydantic_defs():
    for schema in (Person, Person.model_json_schema()):
        inlined = openapi_schema(compile_schema(schema))
        assert refs(inlined) == [] and "$defs" not in json.dumps(inlined)
        assert inlined["properties"]["home"]["properties"] == {"city": {"title": "City", "type": "string"}}
        assert inlined["properties"]["past"]["items"]["required"] == ["city"]


def test_openapi_schema_leaves_other_refs_and_stops_at_a_cycle():
    schema = {"type": "object", "properties": {"node": {"$ref": "#/$defs/Node"}, "far": {"$ref": "other.json"}},
              "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}}
    inlined = openapi_schema(compile_schema(schema))
    assert inlined["properties"]["far"] == {"$ref": "other.json"}
    depth, node = 0, inlined["properties"]["node"]
    while "properties" in node:
        node, depth = node["properties"]["next"], depth + 1
    assert 0 < depth <= 21  # bounded, not infinite


def test_a_pydantic_steps_document_has_no_dangling_refs(settings, tmp_path):
    (tmp_path / "people_step.py").write_text(textwrap.dedent('''
        from pydantic import BaseModel

        class Address(BaseModel):
            city: str

        class NewPerson(BaseModel):
            name: str
            home: Address

        config = {"type": "api", "name": "CreatePerson", "method": "POST", "path": "/people/:team",
                  "bodySchema": NewPerson, "responseSchema": {201: NewPerson.model_json_schema()},
                  "queryParams": [{"name": "dry", "description": "do not store"}], "flows": ["people"]}

        def handler(req, context):
            return {"status": 201, "body": req["body"]}
    '''))
    use_steps(settings, tmp_path)
    urls = types.ModuleType("openapi_test_urls")
    urls.urlpatterns = [*settings.ROOT_URLCONF.urlpatterns, path("openapi.json", SpectacularJSONAPIView.as_view())]
    settings.ROOT_URLCONF = urls
    response = Client().get("/openapi.json")
    assert response.status_code == 200
    op = response.json()["paths"]["/people/{team}"]["post"]
    assert op["operationId"] == "CreatePerson" and op["tags"] == ["people"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["home"]["properties"]["city"]["type"] == "string"
    assert refs(op) == []
    assert [(p["in"], p["name"]) for p in op["parameters"]] == [("path", "team"), ("query", "dry")]
    assert op["parameters"][1]["description"] == "do not store"
