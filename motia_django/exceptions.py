"""Errors a user of motia_django may catch. Each says what was wrong and where."""

from __future__ import annotations

from typing import Any


class MotiaError(Exception):
    """Base class of motia_django's errors."""


class StreamValidationError(MotiaError, ValueError):
    """Data, ids, a channel or an event did not match what the stream accepts. Nothing was written.

    ``errors`` is a list of ``{"path": "user_id", "message": "..."}``; API steps return it in a 400 body.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None, *, stream: str = "") -> None:
        self.stream = stream
        self.errors = errors if errors is not None else [{"path": "", "message": message}]
        super().__init__(f"{stream}: {message}" if stream else message)


class StreamNotFound(MotiaError, KeyError):
    """No stream of that name is registered."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        self.name = name
        hint = f" Known streams: {', '.join(sorted(known))}." if known else " No streams are registered."
        super().__init__(f"No stream named {name!r}.{hint}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class SchemaDefinitionError(MotiaError, TypeError):
    """A stream's or step's schema is not a valid JSON Schema or pydantic model."""
