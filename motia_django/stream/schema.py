"""Schemas: a JSON Schema dict, a pydantic model class, or ``Model.model_json_schema()`` output.

Each compiles once, at registry build time, into a ``Schema`` whose ``validate()`` returns the data to store or
raises ``StreamValidationError`` listing every problem (path and message), so a 400 can show them all. A JSON
Schema is checked by ``jsonschema-rs`` (compiled) first; only data it rejects goes through ``jsonschema``, whose
messages the errors keep.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jsonschema
import jsonschema.validators
import jsonschema_rs
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from motia_django.exceptions import SchemaDefinitionError, StreamValidationError

__all__ = ["Schema", "compile_schema"]


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


def _error_path(error: jsonschema.ValidationError) -> str:
    """Dotted path of the offending field; for a missing required property, the property itself."""
    parts = list(error.path)
    if error.validator == "required":
        match = re.match(r"^'(.+)' is a required property$", error.message)
        if match:
            parts.append(match.group(1))
    return _path(parts)


class Schema:
    """Accepts any JSON object; subclasses narrow it."""

    json_schema: dict[str, Any] = {"type": "object"}

    def validate(self, data: Any, *, label: str = "data") -> Any:
        return data

    def describe(self) -> dict[str, Any]:
        """JSON Schema for documentation (admin, OpenAPI, workbench)."""
        return self.json_schema


class JSONSchema(Schema):
    def __init__(self, schema: Mapping[str, Any]) -> None:
        schema = dict(schema)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = _path(exc.path)
            raise SchemaDefinitionError(
                f"not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else "")
            ) from None
        self.json_schema = schema
        self._validator = cls(schema)
        try:  # the compiled fast path; jsonschema below stays the judge of failures and their messages
            self._fast: Any = jsonschema_rs.validator_for(schema, validate_formats=False)
        except Exception:
            self._fast = None

    def validate(self, data: Any, *, label: str = "data") -> Any:
        if self._fast is not None:
            try:
                if self._fast.is_valid(data):
                    return data
            except Exception:  # not JSON-like (e.g. a set): let jsonschema say what is wrong
                pass
        errors = [{"path": _error_path(e), "message": e.message} for e in self._validator.iter_errors(data)]
        if errors:
            errors.sort(key=lambda e: e["path"])
            raise StreamValidationError(
                "; ".join(f"{label}{'.' if e['path'] else ''}{e['path']}: {e['message']}" for e in errors), errors
            )
        return data


class PydanticSchema(Schema):
    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.json_schema = model.model_json_schema()

    def validate(self, data: Any, *, label: str = "data") -> Any:
        try:
            instance = self.model.model_validate(data)
        except PydanticValidationError as exc:
            errors = [{"path": _path(e["loc"]), "message": e["msg"]} for e in exc.errors()]
            raise StreamValidationError(
                "; ".join(f"{label}{'.' if e['path'] else ''}{e['path']}: {e['message']}" for e in errors),
                errors,
            ) from None
        return instance.model_dump(mode="json", by_alias=True)


def compile_schema(schema: Any) -> Schema:
    """Turn a schema as users write it into a ``Schema``; ``SchemaDefinitionError`` says why it can't."""
    if schema is None:
        return Schema()
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return PydanticSchema(schema)
    if isinstance(schema, BaseModel):
        raise SchemaDefinitionError(
            f"got a {type(schema).__name__} instance; pass the model class or Model.model_json_schema()"
        )
    if isinstance(schema, Mapping):
        return JSONSchema(schema)
    raise SchemaDefinitionError(
        f"expected a JSON Schema dict or a pydantic model class, got {type(schema).__name__}"
    )
