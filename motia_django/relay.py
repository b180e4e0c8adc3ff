"""The cross-process side of the hub: changes to other processes through the channel layer, and theirs to us.

Each process has one channel. When its first socket joins a (stream, group), the process channel joins that
group's layer group; a change is one ``group_send`` to it, so with channels-redis' pub/sub layer a change costs
one ``PUBLISH`` whatever the number of sockets and processes, and each process receives it once and fans it
out locally. A message carries its origin, so a process skips its own (it delivered them locally already).

The embedded default (the in-memory layer) has no relay: one process, nothing to carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer

from motia_django.changes import Change
from motia_django.conf import motia_settings
from motia_django.hub import GroupKey, Hub

__all__ = ["MESSAGE_TYPE", "ORIGIN", "Relay", "RemoteFrame", "group_name", "is_local_layer"]

logger = logging.getLogger("motia_django.relay")

#: The channel-layer message type of a change.
MESSAGE_TYPE = "motia.change"

#: This process, as named in the messages it sends.
ORIGIN = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"

#: Seconds between re-joins of the layer groups (channels-redis' core layer forgets members after a day).
REFRESH_SECONDS = 3600.0


def group_name(stream: str, group_id: str) -> str:
    """The channel-layer group of (stream, group id): valid group characters and short, whatever the ids."""
    digest = hashlib.sha1(f"{stream}\0{group_id}".encode(), usedforsecurity=False).hexdigest()
    return f"motia.{digest[:40]}"


def is_local_layer(layer: Any) -> bool:
    """True for a layer that cannot reach other processes (Channels' in-memory layer)."""
    return type(layer).__name__ == "InMemoryChannelLayer"


@dataclass(frozen=True, slots=True)
class RemoteFrame:
    """A change received from another process: already encoded."""

    stream: str
    group_id: str
    id: str | None
    text: str
    type: str


class Relay:
    """Sends this process's changes to the layer; receives the other processes' for the hub."""

    def __init__(self, hub: Hub, layer: Any, submit: Any) -> None:
        self.hub, self.layer, self.submit = hub, layer, submit
        self.channel: str | None = None
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Lock | None = None

    # --- sending (any thread) ------------------------------------------------------------------------------

    def message(self, change: Change) -> dict[str, Any]:
        return {"type": MESSAGE_TYPE, "origin": ORIGIN, "text": change.text, "stream": change.stream,
                "group": change.group_id, "id": change.id, "kind": change.type}

    def send(self, change: Change) -> None:
        """One ``group_send`` on this process's delivery loop, in order with earlier changes."""
        group = group_name(change.stream, change.group_id)
        self.submit(functools.partial(self.layer.group_send, group, self.message(change)))

    # --- receiving (on the hub's loop) ---------------------------------------------------------------------

    async def _channel(self) -> str:
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if self.channel is None:
                self.channel = await self.layer.new_channel(prefix="motia-hub.")
                self._listener = asyncio.get_running_loop().create_task(self._listen(self.channel))
        return self.channel

    async def listen(self, key: GroupKey) -> None:
        await self.layer.group_add(group_name(*key), await self._channel())

    async def unlisten(self, key: GroupKey) -> None:
        if self.channel is not None:
            await self.layer.group_discard(group_name(*key), self.channel)

    async def _listen(self, channel: str) -> None:
        refresh = asyncio.get_running_loop().time() + REFRESH_SECONDS
        while True:
            try:
                message = await asyncio.wait_for(self.layer.receive(channel), REFRESH_SECONDS)
            except TimeoutError:
                message = None
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Receiving changes from the channel layer failed; retrying")
                await asyncio.sleep(1)
                continue
            if message is not None and message.get("origin") != ORIGIN:
                self.hub.deliver(RemoteFrame(message["stream"], message["group"], message.get("id"),
                                             message["text"], message.get("kind", "")))
            if asyncio.get_running_loop().time() >= refresh:
                refresh = asyncio.get_running_loop().time() + REFRESH_SECONDS
                await self._rejoin(channel)

    async def _rejoin(self, channel: str) -> None:
        for key in list(self.hub.sockets):
            with contextlib.suppress(Exception):
                await self.layer.group_add(group_name(*key), channel)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(BaseException):
                await self._listener
        self._listener, self.channel = None, None


def make_relay(hub: Hub, submit: Any) -> Relay | None:
    """The relay for the broadcast layer, or None when it cannot reach other processes (or is not set)."""
    layer = get_channel_layer(motia_settings.CHANNEL_LAYER)
    if layer is None or is_local_layer(layer):
        return None
    return Relay(hub, layer, submit)
