"""The flow context a handler receives as its second argument, as in Motia.

``trace_id`` (``traceId``) is new for each API request and carried into every event emitted under it, so the
logs of one flow share it. ``emit`` may only send topics listed in the step's ``emits`` (Motia's rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motia_django.bridge import asyncify, dual
from motia_django.core import new_trace_id
from motia_django.events import emit as _emit_anywhere
from motia_django.logger import FlowLogger
from motia_django.registry import Streams, streams
from motia_django.state import State, state

if TYPE_CHECKING:
    from motia_django.steps import Step

__all__ = ["FlowContext"]


class FlowContext:
    """``trace_id``/``traceId``, ``logger``, ``emit``, ``streams``, ``state``; ``step`` is the running step."""

    def __init__(self, trace_id: str | None = None, step: Step | None = None) -> None:
        self.trace_id = trace_id or new_trace_id()
        self.step = step
        self.logger = FlowLogger(self.trace_id, step.name if step else "", step.flows if step else [])
        self.streams: Streams = streams
        self.state: State = state

    @property
    def traceId(self) -> str:
        return self.trace_id

    def _emit(self, event: dict[str, Any]) -> list[int]:
        """Store ``{"topic", "data"}`` for every subscribing event step (see ``motia_django.events.emit``)."""
        return _emit_anywhere(event, trace_id=self.trace_id, step=self.step)

    emit = dual(_emit)
    aemit = asyncify(_emit)

    def __repr__(self) -> str:
        return f"<FlowContext {self.step.name if self.step else '-'} trace={self.trace_id}>"
