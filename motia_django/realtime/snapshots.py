"""Snapshot reads, shared: the joins of one group (or one item) that arrive together are served by one read.

After a deploy every client reconnects at once, and a thousand sockets join the same few groups within a second.
Each join must read its snapshot after its subscription is registered (docs/protocol.md, "Joining"), so a join
may share a read only if that read had not started when the join registered: then every change it could miss
was committed after the read began, and reaches it live. ``SnapshotReads.read`` keeps, per (stream, group, item),
the read waiting for its turn on a database thread; a join registered while it waits takes its result, and a join
that comes after it started gets the next one. Reads run on the ``motia-read`` threads (``bridge.read``), apart
from the write queue.
"""

from __future__ import annotations

import asyncio

from motia_django.bridge import read
from motia_django.conf import motia_settings
from motia_django.realtime.protocol import Subscription, Sync, snapshot
from motia_django.stream.api import Stream

__all__ = ["SnapshotReads", "snapshots"]

Key = tuple[str, str, str | None]


class _Read:
    """One read and the joins waiting for it; ``started`` is set in the database thread before it reads."""

    __slots__ = ("future", "started")

    def __init__(self) -> None:
        self.started = False
        self.future: asyncio.Future[Sync] = asyncio.get_running_loop().create_future()


class SnapshotReads:
    """This process's snapshot reads (see the module docstring). One per event loop's sockets."""

    def __init__(self) -> None:
        self.waiting: dict[Key, _Read] = {}
        self.reads = 0  # reads made (for tests and metrics)

    async def read(self, stream: Stream, sub: Subscription) -> Sync:
        """The snapshot of ``sub``'s group (or item), read after this call began: call it after registering."""
        key = (stream.name, sub.group_id, sub.item_id)
        pending = self.waiting.get(key)
        if pending is None or pending.started or pending.future.get_loop() is not asyncio.get_running_loop():
            pending = self.waiting[key] = _Read()
            asyncio.get_running_loop().create_task(self._run(key, pending, stream, sub))
        return await asyncio.shield(pending.future)

    async def _run(self, key: Key, pending: _Read, stream: Stream, sub: Subscription) -> None:
        def take() -> Sync:
            pending.started = True  # from here on, a join that registers needs a read of its own
            return snapshot(stream, sub, max_bytes=motia_settings.SYNC_MAX_BYTES,
                            page_bytes=motia_settings.SYNC_PAGE_BYTES)

        self.reads += 1
        try:
            pending.future.set_result(await read(take))
        except BaseException as exc:  # every join waiting for it fails as it would have alone
            if not pending.future.done():
                pending.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            if self.waiting.get(key) is pending:
                del self.waiting[key]


#: This process's shared reads.
snapshots = SnapshotReads()
