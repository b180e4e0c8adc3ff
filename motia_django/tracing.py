"""Optional OpenTelemetry spans for steps and stream writes, so a flow shows up in the project's traces.

Nothing here needs OpenTelemetry: without ``opentelemetry-api`` (the ``otel`` extra), or while the project has set
no tracer provider (the API's default proxy), every helper is a plain call-through. With a provider set (the SDK, or any
other), each step run is a span ``motia.step <name>`` and each stream write a span ``motia.stream.<op>
<stream>``, children of whatever span is current (a request's, from the project's own instrumentation). Both
carry the Motia trace id as ``motia.trace_id``, so a trace can be found from the ``x-trace-id`` header or a log
line. A write made inside a step carries its step's trace id, also when it runs on a database thread (the
write queue runs each write in the context it was made in).
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar

from motia_django.compat import otel_trace as otel  # None without the 'otel' extra (opentelemetry-api)

__all__ = ["current_trace_id", "new_trace_id", "step_span", "traced_write", "tracer"]

P = ParamSpec("P")
T = TypeVar("T")

#: The Motia trace id of the step running in this context (set only while spans are recorded).
current_trace_id: ContextVar[str | None] = ContextVar("motia_trace_id", default=None)

_cached: tuple[Any, Any] | None = None  # (provider, its tracer)


def new_trace_id() -> str:
    """A Motia trace id: new for each API request, carried by every event emitted under it."""
    return str(uuid.uuid4())


def tracer() -> Any | None:
    """motia_django's tracer, or None when OpenTelemetry is not installed or no tracer provider is set."""
    global _cached
    if otel is None:
        return None
    provider = otel.get_tracer_provider()
    if isinstance(provider, otel.ProxyTracerProvider | otel.NoOpTracerProvider):
        return None
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    found = provider.get_tracer("motia_django")
    _cached = (provider, found)
    return found


_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()  # reusable: what a step runs in without spans


def step_span(step: str, kind: str, trace_id: str,
              attributes: dict[str, Any] | None = None) -> contextlib.AbstractContextManager[None]:
    """A span around one run of a step (``kind``: api, event or cron); an exception is recorded on it."""
    found = tracer()
    if found is None:
        return _NO_SPAN
    return _step_span(found, step, kind, trace_id, attributes)


@contextlib.contextmanager
def _step_span(found: Any, step: str, kind: str, trace_id: str, attributes: dict[str, Any] | None) -> Iterator[None]:
    names = {"motia.trace_id": trace_id, "motia.step": step, "motia.step.kind": kind}
    token = current_trace_id.set(trace_id)
    try:
        with found.start_as_current_span(f"motia.step {step}", attributes={**names, **(attributes or {})}):
            yield
    finally:
        current_trace_id.reset(token)


def traced_write(op: str, *, item: bool = True) -> Callable[[Callable[Concatenate[Any, str, P], T]],
                                                            Callable[Concatenate[Any, str, P], T]]:
    """Decorate a stream's sync write body ``(self, group_id, id?, ...)``: a span ``motia.stream.<op>`` with the
    stream, group and (``item``) item id, and the trace id of the step that wrote."""

    def decorate(fn: Callable[Concatenate[Any, str, P], T]) -> Callable[Concatenate[Any, str, P], T]:
        @functools.wraps(fn)
        def wrapper(self: Any, group_id: str, *args: P.args, **kwargs: P.kwargs) -> T:
            found = tracer()
            if found is None:
                return fn(self, group_id, *args, **kwargs)
            attributes = {"motia.stream": self.name, "motia.group_id": group_id, "motia.stream.op": op}
            if item and args:
                attributes["motia.item_id"] = args[0]
            trace_id = current_trace_id.get()
            if trace_id is not None:
                attributes["motia.trace_id"] = trace_id
            with found.start_as_current_span(f"motia.stream.{op} {self.name}", attributes=attributes):
                return fn(self, group_id, *args, **kwargs)

        return wrapper

    return decorate
