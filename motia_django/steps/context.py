"""What a handler receives: the flow context (its second argument, as in Motia) and, for an API step, ``req``.

``trace_id`` (``traceId``) is new for each API request and carried into every event emitted under it, so the
logs of one flow share it. ``emit`` may only send topics listed in the step's ``emits`` (Motia's rule).

Two contexts, as Django has ``Client`` and ``AsyncClient``, so that a type checker sees what the handler may
do: a sync handler gets a ``FlowContext``, whose ``streams``, ``state`` and ``emit`` are plain calls; an async
handler gets an ``AsyncFlowContext``, whose ``streams``, ``state`` and ``emit`` are coroutines
(``await context.streams.chatMessage.set(...)`` as in Motia's steps). A ``FlowContext`` made by hand still
works in async code, where its calls return awaitables (``motia_django.bridge.dual``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from motia_django.bridge import asyncify, dual
from motia_django.steps.emit import emit as _emit_anywhere
from motia_django.steps.logger import FlowLogger
from motia_django.steps.state import AsyncState, State, async_state, state
from motia_django.stream.registry import AsyncStreams, Streams, async_streams, streams
from motia_django.tracing import new_trace_id

if TYPE_CHECKING:
    from motia_django.steps.config import Step

__all__ = ["ApiRequest", "ApiResponse", "AsyncFlowContext", "FlowContext", "context_for"]


class ApiRequest(TypedDict):
    """An API step's ``req``: the body (checked against ``bodySchema``), the headers (lower-case), path and query
    parameters, the method, and the user DRF authenticated (None without one)."""

    body: Any
    headers: dict[str, str]
    pathParams: dict[str, str]
    queryParams: dict[str, str | list[str]]
    method: str
    user: Any


class ApiResponse(TypedDict):
    """What an API step returns: ``{"status": 201, "body": {...}}``, optionally with ``headers``."""

    status: int
    body: NotRequired[Any]
    headers: NotRequired[dict[str, str]]


class _Context:
    """What both contexts share: the trace id, the logger and the running step."""

    def __init__(self, trace_id: str | None = None, step: Step | None = None) -> None:
        self.trace_id = trace_id or new_trace_id()
        self.step = step
        self.logger = FlowLogger(self.trace_id, step.name if step else "", step.flows if step else [])

    @property
    def traceId(self) -> str:
        return self.trace_id

    def _emit(self, event: dict[str, Any]) -> list[int]:
        """Store ``{"topic", "data"}`` for every subscribing event step (see ``motia_django.steps.emit.emit``)."""
        return _emit_anywhere(event, trace_id=self.trace_id, step=self.step)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.step.name if self.step else '-'} trace={self.trace_id}>"


class FlowContext(_Context):
    """A sync handler's context: ``trace_id``/``traceId``, ``logger``, ``emit``, ``streams``, ``state``."""

    def __init__(self, trace_id: str | None = None, step: Step | None = None) -> None:
        super().__init__(trace_id, step)
        self.streams: Streams = streams
        self.state: State = state

    emit = dual(_Context._emit)
    aemit = asyncify(_Context._emit)


class AsyncFlowContext(_Context):
    """An async handler's context: the same, with ``streams``, ``state`` and ``emit`` awaitable."""

    def __init__(self, trace_id: str | None = None, step: Step | None = None) -> None:
        super().__init__(trace_id, step)
        self.streams: AsyncStreams = async_streams
        self.state: AsyncState = async_state

    async def emit(self, event: dict[str, Any]) -> list[int]:
        """Store ``{"topic", "data"}`` for every subscribing event step (see ``motia_django.steps.emit.emit``)."""
        return await self.aemit(event)

    aemit = asyncify(_Context._emit)


def context_for(step: Step, trace_id: str | None = None) -> FlowContext | AsyncFlowContext:
    """The context ``step``'s handler receives: ``AsyncFlowContext`` for an ``async def`` handler."""
    return AsyncFlowContext(trace_id, step) if step.is_async else FlowContext(trace_id, step)
