"""Joins: who may make a subscription, and what happens around it.

The decision (``JoinPolicy.admit``), in order: the socket is within its join rate (``JOIN_RATE`` a second,
``JOIN_BURST`` at once); the stream exists; the socket holds fewer than ``MAX_SUBSCRIPTIONS`` (a re-join under a
held id replaces it); the stream's ``canAccess(subscription, auth_context)`` allows it, or for a stream without
one ``DEFAULT_ACCESS`` ("allow", as Motia, or "authenticated"), and for a presence stream the stream it tracks
allows the same group too (who is in a room is as private as the room); then ``onJoin(subscription,
auth_context)`` may still refuse it (returning ``False``, or raising). A refusal is a ``FrameError`` the consumer
answers with the protocol's error event.

Around it (``Lifecycle``): once a join is admitted its ``onLeave(subscription, auth_context)`` is owed and
runs exactly once, when the subscription ends for any reason (a ``leave``, a re-join under its id, a sync that
could not be read, a disconnect or a cut-off). A socket's first subscription on a group of a stream that
presence streams track makes its member present there (``motia_django.realtime.presence``); its last one
ending makes it leave. Sync hooks run in a thread (they may use the ORM), async ones on the loop.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from motia_django.bridge import call_hook
from motia_django.conf import motia_settings
from motia_django.exceptions import FrameError, StreamNotFound
from motia_django.realtime import presence
from motia_django.realtime.auth import is_authenticated
from motia_django.realtime.limits import TokenBucket
from motia_django.realtime.protocol import Subscription
from motia_django.stream.api import Stream
from motia_django.stream.registry import registry

__all__ = ["JoinPolicy", "Lifecycle", "can_join"]

logger = logging.getLogger("motia_django.consumer")


async def can_join(stream: Stream, subscription: dict[str, Any], auth_context: Any) -> bool:
    """Whether ``subscription`` (``streamName``, ``groupId``, optional ``id``) may be made: the stream's
    ``canAccess``, or ``DEFAULT_ACCESS``."""
    if stream.can_access is not None:
        return bool(await call_hook(stream.can_access, subscription, auth_context))
    policy = motia_settings.DEFAULT_ACCESS
    if policy == "allow":
        return True
    if policy == "authenticated":
        return is_authenticated(auth_context)
    raise ImproperlyConfigured(f"MOTIA['DEFAULT_ACCESS'] must be 'allow' or 'authenticated', not {policy!r}")


class JoinPolicy:
    """One socket's join decision (see the module docstring)."""

    __slots__ = ("auth_context", "joins")

    def __init__(self, auth_context: Any) -> None:
        self.auth_context = auth_context
        self.joins = TokenBucket(motia_settings.JOIN_RATE, motia_settings.JOIN_BURST)

    async def admit(self, sub: Subscription, held: int, *, replacing: bool) -> Stream:
        """The stream ``sub`` joins, if the join is allowed; ``FrameError`` otherwise. ``held``: the socket's
        subscriptions now; ``replacing``: ``sub`` re-joins under an id the socket holds."""
        if not self.joins.take():
            raise FrameError("TOO_MANY_JOINS", f"at most {motia_settings.JOIN_RATE:g} joins a second "
                             f"({motia_settings.JOIN_BURST} at once)", sub.stream, sub.group_id)
        try:
            stream = registry.get(sub.stream)
        except StreamNotFound:
            raise FrameError("STREAM_NOT_FOUND", f"stream {sub.stream!r} not found", sub.stream,
                             sub.group_id) from None
        limit = motia_settings.MAX_SUBSCRIPTIONS
        if not replacing and held >= limit:
            raise FrameError("TOO_MANY_SUBSCRIPTIONS", f"at most {limit} subscriptions per connection", sub.stream,
                             sub.group_id)
        if not await self._allowed(stream, sub) or not await self._on_join(stream, sub):
            raise FrameError("STREAM_ACCESS_DENIED", "Access denied", sub.stream, sub.group_id)
        return stream

    async def _allowed(self, stream: Stream, sub: Subscription) -> bool:
        try:
            if not await can_join(stream, sub.as_dict(), self.auth_context):
                return False
            tracked = registry.find(stream.presence.tracks) if stream.presence is not None else None
            if tracked is None:
                return True
            room = {"streamName": tracked.name, "groupId": sub.group_id, "subscriptionId": sub.id}  # the group
            return await can_join(tracked, room, self.auth_context)
        except Exception:
            logger.exception("canAccess of stream %r raised; access denied", sub.stream)
            return False

    async def _on_join(self, stream: Stream, sub: Subscription) -> bool:
        if stream.on_join is None:
            return True
        try:
            return await call_hook(stream.on_join, sub.as_dict(), self.auth_context) is not False
        except Exception:
            logger.exception("onJoin of stream %r raised; join refused", sub.stream)
            return False


class Lifecycle:
    """One socket's admitted subscriptions: the ``onLeave`` each is owed, and presence."""

    __slots__ = ("auth_context", "connection_id", "owed")

    def __init__(self, auth_context: Any) -> None:
        self.auth_context = auth_context
        self.connection_id: str | None = None
        #: The admitted subscriptions whose end must be seen (onLeave, presence), by id, each with whether its
        #: sync was read (then its member is present on its group). One table: an idle socket's share of
        #: presence is this dict, not a set and a counter beside it (0.4 KiB).
        self.owed: dict[str, tuple[Subscription, bool]] = {}

    def admitted(self, stream: Stream, sub: Subscription) -> None:
        """``sub`` passed the join decision: from now on its end is seen by ``left``."""
        if stream.on_leave is not None or presence.presence_streams(sub.stream):
            self.owed[sub.id] = (sub, False)

    async def joined(self, stream: Stream, sub: Subscription) -> None:
        """``sub``'s snapshot was read (its sync goes out next): its member arrives where presence is tracked."""
        owed = self.owed.get(sub.id)
        if owed is None or owed[0] is not sub or owed[1]:
            return
        trackers = presence.presence_streams(sub.stream)
        first = not self._present(sub.group_key)
        self.owed[sub.id] = (sub, True)
        if not first or not trackers:
            return
        if self.connection_id is None:
            self.connection_id = presence.new_connection_id()
        member = presence.member_of(self.auth_context, self.connection_id)
        for tracker in trackers:
            await self._presence(presence.Arrival(tracker, sub.group_id, member, self.connection_id, sub.as_dict(),
                                                  self.auth_context))
        presence.ensure_upkeep()

    async def left(self, sub: Subscription) -> None:
        """``sub`` ended: the one place its ``onLeave`` runs, and its member departs (a no-op for a subscription
        that owes nothing)."""
        owed = self.owed.get(sub.id)
        if owed is None or owed[0] is not sub:
            return
        del self.owed[sub.id]
        stream = registry.find(sub.stream)
        if stream is not None and stream.on_leave is not None:
            try:
                await call_hook(stream.on_leave, sub.as_dict(), self.auth_context)
            except Exception:
                logger.exception("onLeave of stream %r raised", sub.stream)
        if not owed[1] or self._present(sub.group_key):
            return  # its sync was never read (it was never present), or another subscription keeps it there
        if self.connection_id is None:
            return
        member = presence.member_of(self.auth_context, self.connection_id)
        for tracker in presence.presence_streams(sub.stream):
            await self._presence(presence.Departure(tracker, sub.group_id, member, self.connection_id))

    def _present(self, key: tuple[str, str]) -> bool:
        """Whether a synced subscription on (stream, group) ``key`` makes the member present there (a scan of at
        most ``MAX_SUBSCRIPTIONS``, on a join or a leave)."""
        return any(synced and sub.group_key == key for sub, synced in self.owed.values())

    @staticmethod
    async def _presence(change: presence.PresenceChange) -> None:
        try:
            await presence.submit(change)  # with the other joins and leaves of this loop: one transaction
        except Exception:  # presence must never cost a socket its subscription
            logger.exception("Presence update failed for %s/%s", change.stream.name, change.group_id)
