"""Shared snapshot reads (``motia_django.realtime.snapshots``): joins of one group registered while a read waits
share it; a join that comes after the read started gets a read of its own (it could miss a change otherwise)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from motia_django.realtime import snapshots as snapshots_module
from motia_django.realtime.protocol import Subscription, Sync
from motia_django.realtime.snapshots import SnapshotReads
from motia_django.stream.registry import streams


def sub(group: str = "g", item: str | None = None) -> Subscription:
    return Subscription(id="s", stream="chatMessage", group_id=group, item_id=item)


@pytest.fixture
def gated(monkeypatch):
    """``snapshot`` blocks until the test lets it go, and counts its calls."""
    calls: list[tuple[str, str | None]] = []
    gate = threading.Event()

    def snapshot(stream, subscription, **limits):
        calls.append((subscription.group_id, subscription.item_id))
        seq = len(calls)  # which read this is, taken before the gate (reads of other groups run alongside)
        gate.wait(5)
        return Sync(frames=[(f"sync {subscription.group_id}", 6)], seq=seq)

    monkeypatch.setattr(snapshots_module, "snapshot", snapshot)
    return calls, gate


@pytest.mark.django_db(transaction=True)
async def test_joins_that_wait_together_share_one_read(gated):
    calls, gate = gated
    reads = SnapshotReads()
    first = asyncio.ensure_future(reads.read(streams.chatMessage, sub()))
    while not calls:  # the first read has started: joins from now on need a read of their own
        await asyncio.sleep(0.001)
    later = [asyncio.ensure_future(reads.read(streams.chatMessage, sub())) for _ in range(50)]
    other_group = asyncio.ensure_future(reads.read(streams.chatMessage, sub("h")))
    gate.set()
    results = await asyncio.gather(first, *later, other_group)
    assert len(calls) <= 3  # the first; one for the 50 that waited together; one for the other group
    assert all(r is results[1] for r in results[1:51])
    assert results[0].seq != results[1].seq


@pytest.mark.django_db(transaction=True)
async def test_an_item_subscription_is_not_served_a_group_read(gated):
    calls, gate = gated
    gate.set()
    reads = SnapshotReads()
    await asyncio.gather(reads.read(streams.chatMessage, sub()), reads.read(streams.chatMessage, sub(item="m")))
    assert set(calls) == {("g", None), ("g", "m")}


@pytest.mark.django_db(transaction=True)
async def test_a_failed_read_fails_every_join_that_shared_it(monkeypatch):
    def broken(stream, subscription, **limits):
        raise RuntimeError("database gone")

    monkeypatch.setattr(snapshots_module, "snapshot", broken)
    reads = SnapshotReads()
    results = await asyncio.gather(*(reads.read(streams.chatMessage, sub()) for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert reads.waiting == {}


@pytest.mark.django_db(transaction=True)
async def test_a_cancelled_join_does_not_cancel_the_read_others_wait_for(gated):
    _calls, gate = gated
    reads = SnapshotReads()
    first = asyncio.ensure_future(reads.read(streams.chatMessage, sub()))
    second = asyncio.ensure_future(reads.read(streams.chatMessage, sub()))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert (await second).frames
