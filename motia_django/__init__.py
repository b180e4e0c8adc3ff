"""motia_django: Motia-style real-time Streams for Django.

The public API is below; names load lazily so that importing ``motia_django`` (for example from settings)
does not touch the app registry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motia_django.changes import Change, stream_changed
    from motia_django.context import FlowContext
    from motia_django.events import aemit, emit
    from motia_django.exceptions import (
        AuthenticationRefused,
        EmitError,
        MotiaError,
        SchemaDefinitionError,
        StreamNotFound,
        StreamValidationError,
    )
    from motia_django.registry import registry, streams
    from motia_django.state import state
    from motia_django.steps import step_registry
    from motia_django.storage import StateStream
    from motia_django.stream import Stream

__all__ = [
    "AuthenticationRefused",
    "Change",
    "EmitError",
    "FlowContext",
    "MotiaError",
    "SchemaDefinitionError",
    "StateStream",
    "Stream",
    "StreamNotFound",
    "StreamValidationError",
    "aemit",
    "emit",
    "registry",
    "state",
    "step_registry",
    "stream_changed",
    "streams",
]

_LAZY = {
    "AuthenticationRefused": "motia_django.exceptions",
    "EmitError": "motia_django.exceptions",
    "Change": "motia_django.changes",
    "stream_changed": "motia_django.changes",
    "MotiaError": "motia_django.exceptions",
    "SchemaDefinitionError": "motia_django.exceptions",
    "StreamNotFound": "motia_django.exceptions",
    "StreamValidationError": "motia_django.exceptions",
    "registry": "motia_django.registry",
    "streams": "motia_django.registry",
    "StateStream": "motia_django.storage",
    "Stream": "motia_django.stream",
    "FlowContext": "motia_django.context",
    "aemit": "motia_django.events",
    "emit": "motia_django.events",
    "state": "motia_django.state",
    "step_registry": "motia_django.steps",
}


def __getattr__(name: str) -> Any:
    if name == "AuthenticationFailed":  # its old name, which DRF uses too (deprecated)
        from motia_django import auth

        return auth.AuthenticationFailed
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'motia_django' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
