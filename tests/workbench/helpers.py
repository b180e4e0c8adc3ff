"""Shared by the tests of motia_django.workbench: a chat message item."""

from __future__ import annotations

from typing import Any


def chat(message: str) -> dict[str, Any]:
    return {"id": "m1", "user_id": "u1", "message": message, "timestamp": "2025-01-01T00:00:00Z"}
