import pytest
from pydantic import BaseModel

from motia_django.exceptions import SchemaDefinitionError, StreamValidationError
from motia_django.stream.schema import compile_schema


class Chat(BaseModel):
    id: str
    user_id: str


def test_three_forms_validate_the_same_data():
    for schema in (Chat, Chat.model_json_schema(), {"type": "object", "required": ["id", "user_id"],
                                                      "properties": {"id": {"type": "string"},
                                                                     "user_id": {"type": "string"}}}):
        compiled = compile_schema(schema)
        assert compiled.validate({"id": "1", "user_id": "u"}) == {"id": "1", "user_id": "u"}
        with pytest.raises(StreamValidationError) as info:
            compiled.validate({"id": 1})
        assert {e["path"] for e in info.value.errors} == {"id", "user_id"}
        assert compiled.describe()["type"] == "object"


def test_none_accepts_anything():
    assert compile_schema(None).validate({"x": 1}) == {"x": 1}


@pytest.mark.parametrize("schema,match", [
    ({"type": "strin"}, "not a valid JSON Schema"),
    ({"properties": {"a": {"type": 5}}}, "not a valid JSON Schema"),
    ("object", "expected a JSON Schema dict or a pydantic model class, got str"),
    (Chat(id="1", user_id="u"), "got a Chat instance"),
])
def test_invalid_schemas(schema, match):
    with pytest.raises(SchemaDefinitionError, match=match):
        compile_schema(schema)
