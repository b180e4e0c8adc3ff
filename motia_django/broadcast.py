"""Committed changes to the channel layer: one group message per change, encoded once.

The broadcaster listens to ``stream_changed`` (sent after commit, see ``motia_django.changes``) and sends each
``Change`` to one channel-layer group per (stream, group id). Group and item subscribers of that group all
listen there; each consumer decides which of its sockets' subscriptions match (protocol.md rules 1 and 7).
The frame is JSON-encoded once per change (``Change.text``) and carried as text, never re-encoded per socket.

Order matters (a ``create`` must never arrive after its ``update``): in a sync thread the send blocks until
the layer has the message; in a thread running an event loop (where blocking is not allowed) messages go on one
ordered queue per loop drained by a single task.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections import deque
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from motia_django.changes import Change, stream_changed
from motia_django.conf import motia_settings

__all__ = ["MESSAGE_TYPE", "connect", "disconnect", "group_name", "message_for", "send_change"]

logger = logging.getLogger("motia_django.broadcast")

#: The channel-layer message type; consumers handle it in ``motia_change``.
MESSAGE_TYPE = "motia.change"

_DISPATCH_UID = "motia_django.broadcast"


def group_name(stream: str, group_id: str) -> str:
    """The channel-layer group of (stream, group id): valid group characters and short, whatever the ids."""
    digest = hashlib.sha1(f"{stream}\0{group_id}".encode(), usedforsecurity=False).hexdigest()
    return f"motia.{digest[:40]}"


def message_for(change: Change) -> dict[str, Any]:
    """The layer message: the encoded frame plus the keys consumers match subscriptions on."""
    return {"type": MESSAGE_TYPE, "text": change.text, "stream": change.stream, "group": change.group_id,
            "id": change.id}


def _layer() -> Any:
    return get_channel_layer(motia_settings.CHANNEL_LAYER)


# One ordered queue (and at most one draining task) per running event loop.
_pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, deque[tuple[Any, str, dict[str, Any]]]] = (
    weakref.WeakKeyDictionary()
)
_tasks: set[asyncio.Task[None]] = set()


async def _drain(loop: asyncio.AbstractEventLoop, queue: deque[tuple[Any, str, dict[str, Any]]]) -> None:
    try:
        while queue:
            layer, group, message = queue.popleft()
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.exception("Could not broadcast a change to %s", group)
    finally:
        _pending.pop(loop, None)


def send_change(change: Change) -> None:
    """Send ``change`` to its group's subscribers, in order with earlier changes from this thread."""
    layer = _layer()
    if layer is None:
        logger.debug("No channel layer %r configured; change not broadcast", motia_settings.CHANNEL_LAYER)
        return
    group, message = group_name(change.stream, change.group_id), message_for(change)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            # The write is committed; a failed broadcast must not make it look failed to the caller.
            logger.exception("Could not broadcast a change to %s", group)
        return
    queue = _pending.get(loop)
    if queue is not None:
        queue.append((layer, group, message))
        return
    queue = _pending[loop] = deque([(layer, group, message)])
    task = loop.create_task(_drain(loop, queue))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def _on_stream_changed(sender: object, change: Change, **kwargs: object) -> None:
    send_change(change)


def connect() -> None:
    """Start broadcasting (called from ``AppConfig.ready()``; idempotent)."""
    stream_changed.connect(_on_stream_changed, dispatch_uid=_DISPATCH_UID)


def disconnect() -> None:
    stream_changed.disconnect(dispatch_uid=_DISPATCH_UID)
