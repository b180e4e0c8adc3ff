"""motia_django.typescript (the package): the public API its docstring names, so ``from motia_django.typescript
import ...`` keeps working whatever module the code moves to."""

from __future__ import annotations

import motia_django.typescript as package
from motia_django.typescript import converter, types


def test_the_public_api_is_the_converters():
    assert sorted(package.__all__) == ["declarations", "schema_to_typescript", "type_name"]
    assert package.declarations is converter.declarations
    assert package.schema_to_typescript is converter.schema_to_typescript
    assert package.type_name is types.type_name


def test_one_schema_and_the_module_agree():
    name, text = package.schema_to_typescript("chat-message", {"type": "object", "properties": {"n": {"type": "number"}}})
    assert name == "ChatMessage" and text == "export interface ChatMessage {\n  id: string;\n  n?: number;\n}\n"
    assert text in package.declarations([("chat-message", {"type": "object", "properties": {"n": {"type": "number"}}})])
