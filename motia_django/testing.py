"""Test helpers for projects built on motia_django (its own suite uses them too).

- ``StreamCommunicator``: Channels' ``WebsocketCommunicator`` speaking the stream protocol: ``join``, ``leave``,
  ``expect_sync``, ``expect_create`` / ``expect_update`` / ``expect_delete``, ``expect_event``, ``expect_error``.
- ``run_pending_events()``: run every due event step now, in this thread (inside the test's transaction).
- ``capture_changes()``: the changes broadcast inside a block (after commit), in order.

::

    from motia_django.testing import StreamCommunicator, capture_changes, run_pending_events

    async def test_reply_streams_in():
        client = StreamCommunicator()
        await client.connect()
        await client.join("openai", trace_id, "message")
        assert await client.expect_sync() is None
        ...
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from channels.testing import WebsocketCommunicator

from motia_django.steps.runner import run_pending
from motia_django.stream.changes import Change, stream_changed

__all__ = ["StreamCommunicator", "capture_changes", "run_pending_events"]

TIMEOUT = 5.0


class StreamCommunicator(WebsocketCommunicator):
    """A test client for the stream WebSocket. ``application`` defaults to motia_django's own
    (``motia_django.routing.websocket_application()``); ``token`` is offered as Motia's clients offer it."""

    def __init__(self, application: Any = None, path: str = "/", *, token: str | None = None,
                 headers: list[tuple[bytes, bytes]] | None = None, subprotocols: list[str] | None = None) -> None:
        if application is None:
            from motia_django.routing import websocket_application

            application = websocket_application()
        if token is not None:
            subprotocols = ["Authorization", token]
        super().__init__(application, path, headers=headers, subprotocols=subprotocols)

    async def join(self, stream: str, group_id: str, id: str | None = None, *,
                   subscription_id: str | None = None) -> str:
        """Send a ``join`` (an item join with ``id``); returns the subscription id."""
        subscription_id = subscription_id or str(uuid.uuid4())
        data = {"streamName": stream, "groupId": group_id, "subscriptionId": subscription_id}
        if id is not None:
            data["id"] = id
        await self.send_json_to({"type": "join", "data": data})
        return subscription_id

    async def leave(self, stream: str, group_id: str, subscription_id: str, id: str | None = None) -> None:
        data = {"streamName": stream, "groupId": group_id, "subscriptionId": subscription_id}
        if id is not None:
            data["id"] = id
        await self.send_json_to({"type": "leave", "data": data})

    async def receive_frame(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame from the server, decoded."""
        frame: dict[str, Any] = await self.receive_json_from(timeout=timeout)
        return frame

    async def expect(self, type: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame, which must carry an event of ``type`` (``sync``, ``create``, ... ``event``)."""
        frame = await self.receive_frame(timeout)
        assert frame["event"]["type"] == type, f"expected a {type} frame, got {frame}"
        return frame

    async def expect_sync(self, timeout: float = TIMEOUT) -> Any:
        """The data of the next frame, a ``sync`` (a list for a group join, an item or None for an item join)."""
        return (await self.expect("sync", timeout))["event"]["data"]

    async def expect_create(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return dict((await self.expect("create", timeout))["event"]["data"])

    async def expect_update(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return dict((await self.expect("update", timeout))["event"]["data"])

    async def expect_delete(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return dict((await self.expect("delete", timeout))["event"]["data"])

    async def expect_event(self, type: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame's ephemeral event ``{"type", "data"}`` (from ``send()``), of ``type`` if given."""
        event: dict[str, Any] = (await self.expect("event", timeout))["event"]["event"]
        assert type is None or event["type"] == type, f"expected a {type!r} event, got {event}"
        return event

    async def expect_error(self, timeout: float = TIMEOUT) -> str:
        """The code of the next frame, an error event (``STREAM_ACCESS_DENIED``, ``INVALID_MESSAGE``...)."""
        event = await self.expect_event("error", timeout)
        return str(event["data"]["code"])


def run_pending_events(*, concurrency: int | None = None) -> int:
    """Run every due event now, in this thread and transaction; returns how many ran (retries due at once
    included, so a chain of emits runs to its end)."""
    return run_pending(concurrency=concurrency)


@contextlib.contextmanager
def capture_changes() -> Iterator[list[Change]]:
    """Collect every ``Change`` broadcast inside the block (sent after commit: use
    ``django_capture_on_commit_callbacks(execute=True)`` or a transactional test to see them)."""
    seen: list[Change] = []

    def receiver(change: Change, **kwargs: Any) -> None:
        seen.append(change)

    uid = f"motia-capture-{id(seen)}"
    stream_changed.connect(receiver, weak=False, dispatch_uid=uid)
    try:
        yield seen
    finally:
        stream_changed.disconnect(dispatch_uid=uid)
