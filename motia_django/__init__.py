"""motia_django: Motia-style real-time Streams for Django.

The public API is below; names load lazily so that importing ``motia_django`` (for example from settings)
does not touch the app registry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motia_django.exceptions import (
        AuthenticationRefused,
        EmitError,
        MotiaError,
        SchemaDefinitionError,
        StreamNotFound,
        StreamValidationError,
    )
    from motia_django.steps.context import ApiRequest, ApiResponse, AsyncFlowContext, FlowContext
    from motia_django.steps.emit import aemit, emit
    from motia_django.steps.registry import step_registry
    from motia_django.steps.state import state
    from motia_django.stream.api import AsyncStream, Stream
    from motia_django.stream.backends.custom import StateStream
    from motia_django.stream.backends.model import StreamQuerySet, broadcast_changes
    from motia_django.stream.changes import Change, stream_changed
    from motia_django.stream.registry import registry, streams

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "AsyncFlowContext",
    "AsyncStream",
    "AuthenticationRefused",
    "Change",
    "EmitError",
    "FlowContext",
    "MotiaError",
    "SchemaDefinitionError",
    "StateStream",
    "Stream",
    "StreamNotFound",
    "StreamQuerySet",
    "StreamValidationError",
    "aemit",
    "broadcast_changes",
    "emit",
    "registry",
    "state",
    "step_registry",
    "stream_changed",
    "streams",
]

_LAZY = {
    "ApiRequest": "motia_django.steps.context",
    "ApiResponse": "motia_django.steps.context",
    "AsyncFlowContext": "motia_django.steps.context",
    "AsyncStream": "motia_django.stream.api",
    "AuthenticationRefused": "motia_django.exceptions",
    "Change": "motia_django.stream.changes",
    "EmitError": "motia_django.exceptions",
    "FlowContext": "motia_django.steps.context",
    "MotiaError": "motia_django.exceptions",
    "SchemaDefinitionError": "motia_django.exceptions",
    "StateStream": "motia_django.stream.backends.custom",
    "Stream": "motia_django.stream.api",
    "StreamNotFound": "motia_django.exceptions",
    "StreamQuerySet": "motia_django.stream.backends.model",
    "StreamValidationError": "motia_django.exceptions",
    "aemit": "motia_django.steps.emit",
    "broadcast_changes": "motia_django.stream.backends.model",
    "emit": "motia_django.steps.emit",
    "registry": "motia_django.stream.registry",
    "state": "motia_django.steps.state",
    "step_registry": "motia_django.steps.registry",
    "stream_changed": "motia_django.stream.changes",
    "streams": "motia_django.stream.registry",
}


def __getattr__(name: str) -> Any:
    if name == "AuthenticationFailed":  # its old name, which DRF uses too (deprecated)
        from motia_django.realtime import auth

        return auth.AuthenticationFailed
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'motia_django' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
