"""Per-group order and gap detection: a server process delivers each group's changes in sequence, or resyncs.

Every stored write carries its group's sequence number (``Change.seq``, assigned with the write in commit
order). For each group it serves, a process remembers the last number it delivered. A change arriving early
(its predecessor is still on its way, e.g. over the channel layer while the next came locally) waits; when the
gap fills, both go out in order. A gap that does not fill within ``GAP_WAIT`` seconds means a change was lost
(a dropped pub/sub message, a full channel-layer queue): the group's sockets are resynced with fresh ``sync``
frames instead of staying behind silently (docs/protocol.md, "Delivery").

The first number of a group comes from the first socket's snapshot (read after it registered); changes that
arrive before it wait too, so none is delivered twice or skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["GAP_WAIT", "Sequencer"]

#: Seconds a change may wait for its predecessor before the group is resynced.
GAP_WAIT = 0.5

Key = tuple[str, str]


class Sequencer:
    """Orders the numbered changes of each group for ``deliver``; calls ``resync(keys)`` on a lasting gap."""

    def __init__(self, deliver: Callable[[Any], None], resync: Callable[[list[Key]], None]) -> None:
        self.deliver, self.resync = deliver, resync
        self.last: dict[Key, int] = {}
        self.waiting: dict[Key, dict[int, Any]] = {}
        self.timers: dict[Key, asyncio.TimerHandle] = {}

    def admit(self, key: Key, seq: int, frame: Any) -> None:
        """A change numbered ``seq`` of group ``key``: deliver it now, later in order, or never (it is old)."""
        last = self.last.get(key)
        if last is not None and seq <= last:
            return  # delivered already, or part of the snapshot the group started from
        if last is not None and seq == last + 1:
            self.last[key] = seq
            self.deliver(frame)
            if key in self.waiting:
                self._release(key)
            return
        self.waiting.setdefault(key, {})[seq] = frame
        if key not in self.timers:
            self.timers[key] = asyncio.get_running_loop().call_later(GAP_WAIT, self._expired, key)

    def start(self, key: Key, seq: int) -> None:
        """The group's number in a snapshot just read: where a group without one starts."""
        if key not in self.last:
            self.last[key] = seq
            self._release(key)

    def skip_to(self, key: Key, seq: int) -> None:
        """Changes up to ``seq`` were lost on the way: the group is being resynced from snapshots that hold them,
        so they are no longer waited for (and dropped if they still come)."""
        if key in self.last:
            self.last[key] = max(self.last[key], seq)
            self._release(key)

    def forget(self, key: Key) -> None:
        """No socket serves the group any more."""
        self.last.pop(key, None)
        self.waiting.pop(key, None)
        self._stop_timer(key)

    def _release(self, key: Key) -> None:
        waiting, last = self.waiting.get(key, {}), self.last[key]
        for seq in [s for s in waiting if s <= last]:
            del waiting[seq]
        while last + 1 in waiting:
            last += 1
            self.deliver(waiting.pop(last))
        self.last[key] = last
        if not waiting:
            self.waiting.pop(key, None)
            self._stop_timer(key)

    def _stop_timer(self, key: Key) -> None:
        timer = self.timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _expired(self, key: Key) -> None:
        self.timers.pop(key, None)
        waiting = self.waiting.pop(key, None)
        if not waiting:
            return
        # The snapshots the resync reads include every change up to the newest waiting one (committed before).
        self.last[key] = max(self.last.get(key, 0), *waiting)
        self.resync([key])
