"""Local fan-out: this process's subscribed sockets by (stream, group), and delivery to them.

A committed change is encoded once (``Change.text``) and handed straight to each matching socket's send queue, on
the loop the sockets run on: no channel-layer message per socket, no task per socket per change. The channel
layer carries a change only to *other* processes (``motia_django.realtime.relay``): one message per change per process,
which each process's hub then fans out locally. A process skips its own changes when they come back (by
origin): it delivered them locally already.

``publish()`` may be called from any thread (changes are published after commit, in the committing thread);
everything else runs on the hub's loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from motia_django import metrics
from motia_django.layers import attach_loop
from motia_django.realtime.protocol import Subscription, SubscriptionTable
from motia_django.realtime.sequence import Sequencer
from motia_django.stream.changes import Change

__all__ = ["Delivery", "Forwarder", "GroupKey", "Hub", "Membership", "Socket", "hub"]

logger = logging.getLogger("motia_django.hub")

GroupKey = tuple[str, str]


class Delivery(Protocol):
    """What a socket needs of a change: where it belongs, and its encoded frame (a ``Change`` of this process, or
    a ``RemoteChange`` from another)."""

    @property
    def stream(self) -> str: ...
    @property
    def group_id(self) -> str: ...
    @property
    def id(self) -> str | None: ...
    @property
    def text(self) -> str: ...
    @property
    def size(self) -> int:
        """The frame's bytes on the wire."""
    @property
    def type(self) -> str:
        """The event's type: ``create``, ``update``, ``delete``, ``event``..."""
    @property
    def seq(self) -> int | None:
        """The group's sequence number after the write (None: an ephemeral event, or custom storage)."""
    @property
    def committed(self) -> float | None:
        """The ``time.monotonic()`` of the change's commit, if known (the broadcast delay is measured from it)."""


class Socket(Protocol):
    def deliver(self, frame: Delivery) -> None:
        """Queue ``frame`` if one of the socket's subscriptions matches (called on the hub's loop)."""

    def resync(self, keys: Iterable[GroupKey]) -> None:
        """Send fresh ``sync`` frames for the socket's subscriptions on ``keys`` (a change may have been lost)."""


class Forwarder(Protocol):
    """What the hub needs of the cross-process side (``motia_django.realtime.relay.Relay``)."""

    def send(self, change: Change) -> None: ...
    async def listen(self, key: GroupKey) -> None: ...
    async def unlisten(self, key: GroupKey) -> None: ...


class _Empty(set[Any]):
    """The place of a group whose first socket is still waiting for the relay to listen."""


_EMPTY: Any = _Empty()


class Hub:
    """The process's table of sockets by group, and the one place changes enter it."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        #: The sockets on each group: the socket itself while it is the only one (a user's own group, mostly), a
        #: set once there are more; ``members(key)`` reads either. A set costs 0.2 KiB, a socket's group nothing.
        self.sockets: dict[GroupKey, Socket | set[Socket]] = {}
        self.relay: Forwarder | None = None
        self.sequencer = Sequencer(self._fan_out, self.resync)
        self._lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` (where this process's sockets run), and talk to the channel layer there; called by
        each socket on connect."""
        if self.loop is not loop:
            with self._lock:
                self.loop = loop
        attach_loop(loop)

    # --- membership (on the loop) ------------------------------------------------------------------------

    async def join(self, key: GroupKey, socket: Socket) -> None:
        """Deliver the group's changes to ``socket`` from now on (before its snapshot is read)."""
        held = self.sockets.get(key)
        if held is None:
            self.sockets[key] = _EMPTY
            if self.relay is not None:
                try:
                    await self.relay.listen(key)
                except BaseException:
                    if self.sockets.get(key) is _EMPTY:
                        del self.sockets[key]
                    raise
            held = self.sockets.get(key, _EMPTY)
        if held is _EMPTY:
            self.sockets[key] = socket
        elif type(held) is set:
            held.add(socket)
        elif held is not socket:
            self.sockets[key] = {held, socket}  # type: ignore[arg-type]

    async def leave(self, key: GroupKey, socket: Socket) -> None:
        held = self.sockets.get(key)
        if held is None:
            return
        if type(held) is set:
            held.discard(socket)
            if len(held) == 1:
                (self.sockets[key],) = held
            return
        if held is not socket:
            return
        del self.sockets[key]
        self.sequencer.forget(key)
        if self.relay is not None:
            await self.relay.unlisten(key)

    def members(self, key: GroupKey) -> tuple[Socket, ...]:
        """The sockets on ``key`` now."""
        held = self.sockets.get(key)
        if held is None or held is _EMPTY:
            return ()
        if isinstance(held, set):
            return tuple(held)
        return (held,)

    def started(self, key: GroupKey, seq: int | None) -> None:
        """A socket read the group's snapshot at sequence number ``seq`` (see ``motia_django.realtime.sequence``)."""
        if seq is not None and key in self.sockets:
            self.sequencer.start(key, seq)

    # --- delivery ----------------------------------------------------------------------------------------

    def deliver(self, frame: Delivery) -> None:
        """Hand ``frame`` to every local socket on its group (on the loop), in the group's sequence."""
        key = (frame.stream, frame.group_id)
        if key not in self.sockets:
            return
        if frame.seq is None:
            self._fan_out(frame)
        else:
            self.sequencer.admit(key, frame.seq, frame)

    def _fan_out(self, frame: Delivery) -> None:
        for socket in self.members((frame.stream, frame.group_id)):
            try:
                socket.deliver(frame)
            except Exception:  # one broken socket must not cost the others their frame
                logger.exception("Delivering a change to a socket failed")

    def resync(self, keys: Iterable[GroupKey] | None = None) -> None:
        """Resync the local subscriptions on ``keys`` (all, when None): changes to them may have been lost."""
        targets = list(self.sockets) if keys is None else [k for k in keys if k in self.sockets]
        by_socket: dict[Socket, list[GroupKey]] = {}
        for key in targets:
            for socket in self.members(key):
                by_socket.setdefault(socket, []).append(key)
        for socket, socket_keys in by_socket.items():
            socket.resync(socket_keys)

    def publish(self, change: Change) -> None:
        """A committed change (any thread): to the other processes, and to this process's sockets."""
        if self.relay is not None:
            self.relay.send(change)
        loop = self.loop
        held = self.sockets.get((change.stream, change.group_id))  # any thread: look, do not iterate
        if loop is None or loop.is_closed() or held is None or held is _EMPTY:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.deliver(change)
        else:
            loop.call_soon_threadsafe(self.deliver, change)


#: This process's hub.
hub = Hub()


class Membership:
    """One socket's subscriptions, and its place in the hub: registered once per (stream, group) however many
    of its subscriptions share it; counted in ``motia_subscriptions``."""

    __slots__ = ("socket", "table")

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self.table = SubscriptionTable()

    def __len__(self) -> int:
        return len(self.table)

    def get(self, sub_id: str) -> Subscription | None:
        return self.table.get(sub_id)

    async def add(self, sub: Subscription) -> None:
        """Hold ``sub``; the group's changes reach the socket from now on (before its snapshot is read)."""
        first = self.table.add(sub)
        metrics.subscriptions.inc()
        if first:
            await hub.join(sub.group_key, self.socket)

    async def remove(self, sub: Subscription) -> bool:
        """Drop ``sub`` if it is the one held; False if it is not."""
        if self.table.get(sub.id) is not sub:
            return False
        if self.table.remove(sub):
            await hub.leave(sub.group_key, self.socket)
        metrics.subscriptions.dec()
        return True

    async def clear(self) -> list[Subscription]:
        """Drop every subscription (the socket is closing); returns them."""
        subs = list(self.table.by_id.values())
        if subs:
            metrics.subscriptions.dec(len(subs))
        for key in self.table.clear():
            await hub.leave(key, self.socket)
        return subs
