"""``context.logger``: Motia's ``info/warn/error/debug(message, data)`` on top of Python logging.

Each call is one record on the ``motia_django.flow`` logger with ``trace_id``, ``step`` and ``data`` attributes,
so a JSON formatter or a log shipper can index them; the message itself reads ``[StepName] message {data}``
for plain console handlers.
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["FlowLogger"]

flow_log = logging.getLogger("motia_django.flow")


def _text(data: Any) -> str:
    try:
        return json.dumps(data, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(data)


class FlowLogger:
    """Structured logging for one step run (one trace id)."""

    def __init__(self, trace_id: str, step: str = "", flows: list[str] | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.trace_id, self.step, self.flows = trace_id, step, list(flows or [])
        self._logger = logger or flow_log

    def log(self, level: int, message: Any, data: Any = None, *, exc_info: Any = None) -> None:
        if not self._logger.isEnabledFor(level):
            return
        text = str(message) if data is None else f"{message} {_text(data)}"
        if self.step:
            text = f"[{self.step}] {text}"
        self._logger.log(level, "%s", text, exc_info=exc_info, extra={
            "trace_id": self.trace_id, "step": self.step, "flows": self.flows, "data": data,
        })

    def debug(self, message: Any, data: Any = None) -> None:
        self.log(logging.DEBUG, message, data)

    def info(self, message: Any, data: Any = None) -> None:
        self.log(logging.INFO, message, data)

    def warning(self, message: Any, data: Any = None) -> None:
        self.log(logging.WARNING, message, data)

    warn = warning  # Motia's name

    def error(self, message: Any, data: Any = None) -> None:
        self.log(logging.ERROR, message, data)

    def exception(self, message: Any, data: Any = None) -> None:
        self.log(logging.ERROR, message, data, exc_info=True)
