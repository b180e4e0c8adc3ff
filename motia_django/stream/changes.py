"""Committed changes, handed on after commit: the seam between storage and the broadcaster.

Every write path builds a ``Change`` and calls ``publish()``: the stream API, ORM saves and deletes of
``StreamItem`` (the admin included) and ``StreamItemQuerySet.broadcast_changes()``. ``publish`` waits for the
surrounding transaction to commit (``transaction.on_commit``) and then sends ``stream_changed``, so a
rolled-back write is never seen. The broadcaster is connected to the signal in ``AppConfig.ready()``; anything
else (audit logs, tests) may connect too.

Streams that stream triggers watch (``record_changes_of``) also send ``change_recorded`` *inside* the write's
transaction, so that what it stores (the triggered events) commits or rolls back with the write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from motia_django.encoding import encode_frame, encoded_size

__all__ = ["Change", "change_recorded", "item_change", "publish", "record_changes_of", "recorded", "stream_changed"]

#: Sent after commit with ``change=Change``; the broadcaster listens to it.
stream_changed = Signal()

#: Sent inside the write's transaction with ``change``, ``previous`` (the item's data before, where known) and
#: ``using``, for the streams ``record_changes_of`` named: stream triggers store their events on it.
change_recorded = Signal()

_recorded: frozenset[str] = frozenset()


def record_changes_of(streams: set[str] | frozenset[str]) -> None:
    """The streams whose item changes ``change_recorded`` reports (the step registry sets them at each load)."""
    global _recorded
    _recorded = frozenset(streams)


def recorded(stream: str) -> bool:
    """Are ``stream``'s changes recorded (so its writes must run in a transaction of their own)?"""
    return stream in _recorded


@dataclass(frozen=True)
class Change:
    """One thing subscribers must hear about: a create, update, delete, or an ephemeral event.

    ``id`` is None for a group-level event. ``event`` is the protocol's event object, e.g.
    ``{"type": "update", "data": item}`` or ``{"type": "event", "event": {"type": "typing", "data": ...}}``.
    ``seq`` is the group's sequence number after the write (None for events and custom storage): server
    processes notice a lost change by a gap in it. ``committed`` is the ``time.monotonic()`` at which its
    transaction committed (set by ``publish``; the broadcast delay is measured from it). Neither is part of the
    frame.
    """

    stream: str
    group_id: str
    id: str | None
    event: dict[str, Any]
    timestamp: int | float
    seq: int | None = None
    committed: float | None = field(default=None, compare=False, repr=False)

    @property
    def type(self) -> str:
        return str(self.event["type"])

    def frame(self) -> dict[str, Any]:
        """The frame every subscriber receives (docs/protocol.md, "Server to client")."""
        frame: dict[str, Any] = {"timestamp": self.timestamp, "streamName": self.stream, "groupId": self.group_id}
        if self.id is not None:
            frame["id"] = self.id
        frame["event"] = self.event
        return frame

    @cached_property
    def text(self) -> str:
        """The frame encoded once, shared by every socket that receives it."""
        return encode_frame(self.frame())

    @cached_property
    def size(self) -> int:
        """The frame's bytes on the wire (what a socket's send queue counts)."""
        return encoded_size(self.text)


def item_change(kind: str, stream: str, group_id: str, item_id: str, item: dict[str, Any], timestamp: int,
                seq: int | None = None) -> Change:
    """A create, update or delete of one item (``item`` as clients see it)."""
    return Change(stream, group_id, item_id, {"type": kind, "data": item}, timestamp, seq)


def publish(change: Change, *, using: str | None = None, previous: dict[str, Any] | None = None) -> None:
    """Hand ``change`` to subscribers once the current transaction on ``using`` commits (now, if none)."""
    if change.stream in _recorded and change.id is not None and change.type in ("create", "update", "delete"):
        change_recorded.send(sender=Change, change=change, previous=previous, using=using)
    transaction.on_commit(lambda: _committed(change), using=using, robust=True)  # a receiver fails alone


def _committed(change: Change) -> None:
    stream_changed.send(sender=Change, change=replace(change, committed=time.monotonic()))
