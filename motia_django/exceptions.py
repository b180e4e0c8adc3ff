"""Every error motia_django raises on purpose, in one module (as ``channels.exceptions``).

Names are chosen not to shadow Django REST framework's (``AuthenticationFailed``, ``ValidationError``...), so a
project can import both without aliases. This module imports nothing of motia_django: it is part of the leaf
layer every other module builds on.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationRefused",
    "DefinitionError",
    "EmitError",
    "FrameError",
    "InvalidStreamURL",
    "MotiaError",
    "SchemaDefinitionError",
    "StreamAuthError",
    "StreamClientError",
    "StreamConnectionError",
    "StreamJoinRefused",
    "StreamNotFound",
    "StreamTimeout",
    "StreamValidationError",
]


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

    def for_stream(self, stream: str) -> StreamValidationError:
        """Name ``stream`` in the message, unless a stream is named already; returns ``self``."""
        if not self.stream:
            self.stream = stream
            self.args = (f"{stream}: {self.args[0]}",)
        return self


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


class DefinitionError(MotiaError):
    """A stream or step definition that cannot be registered; becomes a system check error naming its origin."""

    def __init__(self, id: str, msg: str, hint: str) -> None:
        super().__init__(msg)
        self.id, self.msg, self.hint = id, msg, hint


class EmitError(MotiaError, ValueError):
    """The event is malformed, or the emitting step does not list its topic in ``emits``. Nothing was stored."""


class AuthenticationRefused(MotiaError):
    """Raise from the ``AUTHENTICATE`` hook to refuse a WebSocket with 401 (``PermissionDenied``: 403)."""


class FrameError(MotiaError):
    """A client's mistake in a frame; answered with an error event when ``stream`` and ``group_id`` are known."""

    def __init__(self, code: str, message: str, stream: str | None = None, group_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.stream, self.group_id = code, message, stream, group_id


# --- the Python stream client (motia_django.client) -----------------------------------------------------------


class StreamClientError(MotiaError):
    """Base class of the stream client's errors (``motia_django.client``)."""


class InvalidStreamURL(StreamClientError, ValueError):
    """A URL the client cannot connect to: not ``ws://`` or ``wss://``, or without a host. Raised before any
    network access."""


class StreamConnectionError(StreamClientError, ConnectionError):
    """The server could not be reached (refused, unknown host, no answer in time, not a WebSocket endpoint), or
    the connection was lost and reconnecting is off."""


class StreamAuthError(StreamClientError, PermissionError):
    """The server refused the WebSocket handshake with HTTP 401 or 403: the token (or session) was not accepted.
    Never retried: the same token would be refused again."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class StreamJoinRefused(StreamClientError):
    """The server answered a join with an error event (docs/protocol.md, "Errors"): ``code`` is
    ``STREAM_ACCESS_DENIED``, ``STREAM_NOT_FOUND``, ``INVALID_MESSAGE``, ``TOO_MANY_SUBSCRIPTIONS`` or
    ``SYNC_FAILED``. No subscription was made."""

    def __init__(self, code: str, message: str, stream: str, group_id: str, id: str | None = None) -> None:
        where = f"{stream}/{group_id}" + (f"/{id}" if id is not None else "")
        super().__init__(f"joining {where} was refused: {code} ({message})")
        self.code, self.message, self.stream, self.group_id, self.id = code, message, stream, group_id, id


class StreamTimeout(StreamClientError, TimeoutError):
    """Nothing arrived in time: no ``sync`` for a join, or no change while waiting for one."""
