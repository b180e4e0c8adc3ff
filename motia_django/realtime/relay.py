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
import time
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer

from motia_django.bridge import to_thread
from motia_django.conf import motia_settings
from motia_django.encoding import encoded_size
from motia_django.layers import is_local_layer, process_origin
from motia_django.realtime.hub import GroupKey, Hub
from motia_django.stream.backends.db import group_seqs
from motia_django.stream.changes import Change

__all__ = [
    "MESSAGE_TYPE", "Relay", "RemoteChange", "committed_at", "group_name", "local_clock", "make_relay",
]

logger = logging.getLogger("motia_django.relay")

#: The channel-layer message type of a change.
MESSAGE_TYPE = "motia.change"


#: Seconds between re-joins of the layer groups (channels-redis' core layer forgets members after a day).
REFRESH_SECONDS = 3600.0

#: Seconds between heartbeats through the process's own channel (they prove nothing was lost on the way).
BEAT_SECONDS = 1.0
BEAT_TYPE = "motia.beat"

#: Beats between audits: the groups' stored sequence numbers compared with what this process delivered.
AUDIT_BEATS = 10


def group_name(stream: str, group_id: str) -> str:
    """The channel-layer group of (stream, group id): valid group characters and short, whatever the ids."""
    digest = hashlib.sha1(f"{stream}\0{group_id}".encode(), usedforsecurity=False).hexdigest()
    return f"motia.{digest[:40]}"


@dataclass(frozen=True, slots=True)
class RemoteChange:
    """A change received from another process: already encoded."""

    stream: str
    group_id: str
    id: str | None
    text: str
    type: str
    seq: int | None
    committed: float | None = None  # this process's monotonic clock, from the origin's wall clock
    size: int = 0  # the frame's bytes on the wire

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> RemoteChange:
        text = message["text"]
        return cls(message["stream"], message["group"], message.get("id"), text, message.get("kind", ""),
                   message.get("seq"), local_clock(message.get("at")), encoded_size(text))


class Relay:
    """Sends this process's changes to the layer; receives the other processes' for the hub.

    A heartbeat goes through the process's own channel every ``BEAT_SECONDS``. A beat that cannot be sent, or
    one that arrives after a missed one, means changes may have been lost on the way (Redis restarted, the
    connection dropped, a channel overflowed): the relay then joins its groups again and resyncs every group
    whose sequence number in the database is ahead of what this process delivered (``recover``).

    A change lost while beats get through (a group's last change, so no later one shows the gap) is found by the
    audit every ``AUDIT_BEATS`` beats: a group whose stored number was already ahead at the previous audit and
    still is has lost a change (one still on its way would have arrived by now), and is resynced.
    """

    def __init__(self, hub: Hub, layer: Any, submit: Any) -> None:
        self.hub, self.layer, self.submit = hub, layer, submit
        self.channel: str | None = None
        self.degraded = False  # changes may have been missed; recover at the next beat that gets through
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: asyncio.Lock | None = None
        self._beat = 0
        self._ahead: dict[GroupKey, int] = {}  # groups whose stored number was ahead at the last audit

    # --- sending (any thread) ------------------------------------------------------------------------------

    def message(self, change: Change) -> dict[str, Any]:
        return {"type": MESSAGE_TYPE, "origin": process_origin(), "text": change.text, "stream": change.stream,
                "group": change.group_id, "id": change.id, "kind": change.type, "seq": change.seq,
                "at": committed_at(change)}

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
                loop = asyncio.get_running_loop()
                self._tasks = [loop.create_task(self._listen(self.channel)), loop.create_task(self._beats())]
        return self.channel

    async def listen(self, key: GroupKey) -> None:
        """Receive the group's changes from other processes; if the layer is down, recover later instead."""
        try:
            await self.layer.group_add(group_name(*key), await self._channel())
        except Exception:
            if not self.degraded:
                logger.warning("The channel layer is unreachable: changes from other processes will be "
                               "resynced when it is back", exc_info=True)
            self.degraded = True

    async def unlisten(self, key: GroupKey) -> None:
        if self.channel is not None:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(group_name(*key), self.channel)

    async def _listen(self, channel: str) -> None:
        expected: int | None = None
        origin = process_origin()
        while True:
            try:
                message = await self.layer.receive(channel)  # never cancelled: the pub/sub layer unsubscribes
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Receiving from the channel layer failed; retrying", exc_info=True)
                self.degraded = True
                await asyncio.sleep(1)
                continue
            if message.get("type") == BEAT_TYPE:
                if message.get("origin") == origin:
                    if expected is not None and message.get("n") != expected:
                        self.degraded = True  # a beat went missing: so may have changes
                    expected = int(message.get("n", 0)) + 1
                    if self.degraded:
                        await self.recover()
            elif message.get("origin") != origin:
                self.hub.deliver(RemoteChange.from_message(message))

    async def _beats(self) -> None:
        assert self.channel is not None
        refresh = asyncio.get_running_loop().time() + REFRESH_SECONDS
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            self._beat += 1
            try:
                await self.layer.send(self.channel, {"type": BEAT_TYPE, "origin": process_origin(), "n": self._beat})
            except Exception:
                if not self.degraded:
                    logger.warning("The channel layer is unreachable; will resync when it is back", exc_info=True)
                self.degraded = True
            if self._beat % AUDIT_BEATS == 0 and not self.degraded:
                await self.audit()
            if asyncio.get_running_loop().time() >= refresh:
                refresh = asyncio.get_running_loop().time() + REFRESH_SECONDS
                await self._rejoin()

    async def _rejoin(self) -> None:
        if self.channel is None:
            return
        for key in list(self.hub.sockets):
            await self.layer.group_add(group_name(*key), self.channel)

    async def recover(self) -> None:
        """Join every group again, then resync the groups that changed while changes may have been lost."""
        try:
            await self._rejoin()
            keys = list(self.hub.sockets)
            stored = await to_thread(group_seqs)(keys)
        except Exception:
            logger.warning("Could not recover from the channel layer outage yet; will retry", exc_info=True)
            return
        self.degraded = False
        delivered = self.hub.sequencer.last
        stale = [key for key in keys if key not in delivered or stored.get(key, 0) > delivered[key]]
        logger.info("Channel layer back: resyncing %d of %d groups", len(stale), len(keys))
        self._resync(stale, stored)

    def _resync(self, keys: list[GroupKey], stored: dict[GroupKey, int]) -> None:
        for key in keys:
            if key in stored:
                self.hub.sequencer.skip_to(key, stored[key])
        self.hub.resync(keys)

    async def audit(self) -> list[GroupKey]:
        """Resync the groups that stayed behind their stored sequence number since the last audit."""
        delivered = dict(self.hub.sequencer.last)
        try:
            stored = await to_thread(group_seqs)(list(delivered))
        except Exception:
            logger.warning("Could not audit the delivered changes; will retry", exc_info=True)
            return []
        ahead = {key: seq for key, seq in stored.items() if key in delivered and seq > delivered[key]}
        current = self.hub.sequencer.last
        lost = [key for key, seq in self._ahead.items() if key in ahead and current.get(key, seq) < seq]
        self._ahead = {key: seq for key, seq in ahead.items() if key not in lost}
        if lost:
            logger.warning("%d groups missed a change; resyncing them", len(lost))
            self._resync(lost, stored)
        return lost

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._tasks, self.channel = [], None


def committed_at(change: Change) -> float:
    """The wall-clock time of ``change``'s commit, for other processes (monotonic clocks are per machine)."""
    now = time.time()
    return now if change.committed is None else now - max(0.0, time.monotonic() - change.committed)


def local_clock(at: Any) -> float | None:
    """Another process's commit time ``at`` (wall clock) on this process's monotonic clock; a commit that
    seems to come from the future (clocks apart) counts as now."""
    if not isinstance(at, int | float) or isinstance(at, bool):
        return None
    return time.monotonic() - max(0.0, time.time() - at)


def make_relay(hub: Hub, submit: Any) -> Relay | None:
    """The relay for the broadcast layer, or None when it cannot reach other processes (or is not set)."""
    layer = get_channel_layer(motia_settings.CHANNEL_LAYER)
    if layer is None or is_local_layer(layer):
        return None
    return Relay(hub, layer, submit)
