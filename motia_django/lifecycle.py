"""What happens around a socket's subscriptions: the ``onJoin`` / ``onLeave`` hooks, and presence.

``onJoin(subscription, auth_context)`` runs after ``canAccess`` allowed a join and may still refuse it
(returning ``False``, or raising); ``onLeave(subscription, auth_context)`` runs when that subscription ends: a
``leave``, a re-join under its id, a disconnect or a cut-off. Exactly once per successful join. Sync hooks run
in a thread (they may use the ORM), async ones on the loop.

A socket's first subscription on a group of a stream that presence streams track makes its member present
there (``motia_django.presence``); its last one ending makes it leave.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from motia_django import presence
from motia_django.auth import call_hook
from motia_django.bridge import to_thread
from motia_django.protocol import Subscription
from motia_django.registry import registry
from motia_django.stream import Stream

__all__ = ["Lifecycle"]

logger = logging.getLogger("motia_django.consumer")


class Lifecycle:
    """One socket's hooks and presence."""

    __slots__ = ("auth_context", "connection_id", "hooked", "present")

    def __init__(self, auth_context: Any) -> None:
        self.auth_context = auth_context
        self.connection_id: str | None = None
        self.hooked: dict[str, Subscription] = {}  # subscriptions whose onJoin ran (or that need presence)
        self.present: Counter[tuple[str, str]] = Counter()  # (tracked stream, group) -> subscriptions

    async def admit(self, stream: Stream, sub: Subscription) -> bool:
        """Run ``onJoin``; False refuses the join."""
        if stream.on_join is None:
            return True
        try:
            return await call_hook(stream.on_join, sub.as_dict(), self.auth_context) is not False
        except Exception:
            logger.exception("onJoin of stream %r raised; join refused", sub.stream)
            return False

    async def joined(self, stream: Stream, sub: Subscription) -> None:
        """The subscription is made (registered and synced)."""
        trackers = presence.presence_streams(sub.stream)
        if stream.on_leave is None and not trackers:
            return
        self.hooked[sub.id] = sub
        key = sub.group_key
        self.present[key] += 1
        if self.present[key] == 1 and trackers:
            if self.connection_id is None:
                self.connection_id = presence.new_connection_id()
            member = presence.member_of(self.auth_context, self.connection_id)
            for tracker in trackers:
                await self._presence(presence.arrive, tracker, sub.group_id, member, self.connection_id,
                                     sub.as_dict(), self.auth_context)
            presence.ensure_upkeep()

    async def left(self, sub: Subscription) -> None:
        """The subscription ended (call once per ``joined``; a no-op for others)."""
        if self.hooked.pop(sub.id, None) is not sub:
            return
        try:
            stream: Stream | None = registry.get(sub.stream)
        except KeyError:
            stream = None
        if stream is not None and stream.on_leave is not None:
            try:
                await call_hook(stream.on_leave, sub.as_dict(), self.auth_context)
            except Exception:
                logger.exception("onLeave of stream %r raised", sub.stream)
        key = sub.group_key
        self.present[key] -= 1
        if self.present[key] > 0:
            return
        del self.present[key]
        if self.connection_id is None:
            return
        member = presence.member_of(self.auth_context, self.connection_id)
        for tracker in presence.presence_streams(sub.stream):
            await self._presence(presence.depart, tracker, sub.group_id, member, self.connection_id)

    @staticmethod
    async def _presence(fn: Any, *args: Any) -> None:
        try:
            await to_thread(fn)(*args)
        except Exception:  # presence must never cost a socket its subscription
            logger.exception("Presence update failed for %s/%s", args[0].name, args[1])
