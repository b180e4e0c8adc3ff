"""The writer: group commit of concurrent writes (each with its own result, error and broadcast), pipelined
writes inside a step scope, and coalescing of one item's queued sets, which always ends on the last state."""

from __future__ import annotations

import asyncio

import pytest

from motia_django.bridge import to_thread
from motia_django.models import StreamItem
from motia_django.stream import write_queue as writes
from motia_django.stream.registry import streams
from motia_django.stream.write_queue import Write, write_scope
from motia_django.testing import capture_changes
from tests.support.realtime import chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def batches(monkeypatch):
    """The sizes of the batches the writer ran."""
    sizes: list[int] = []
    original = writes.Writer._run

    def recording(self, batch):
        sizes.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(writes.Writer, "_run", recording)
    return sizes


async def test_concurrent_writes_share_commits_and_each_gets_its_result(batches):
    with capture_changes() as changes:
        results = await asyncio.gather(*(streams.chatMessage.aset("gc", f"m{i}", chat(f"m{i}")) for i in range(20)))
        await asyncio.sleep(0.05)
    assert [r["id"] for r in results] == [f"m{i}" for i in range(20)]
    assert sum(batches) == 20 and max(batches) > 1  # group commit: fewer commits than writes
    assert sorted(c.id for c in changes) == sorted(f"m{i}" for i in range(20))  # each broadcast, after commit
    assert await StreamItem.objects.filter(group_id="gc").acount() == 20


async def test_a_failing_write_fails_alone(batches):
    def boom():
        raise RuntimeError("this write fails")

    alias = streams.chatMessage.backend.db_alias()
    ok = [streams.chatMessage.aset("fa", f"m{i}", chat(f"m{i}")) for i in range(3)]
    bad = writes.submit(alias, Write(boom))
    results = await asyncio.gather(*ok, bad, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["dict", "dict", "dict", "RuntimeError"]
    assert await StreamItem.objects.filter(group_id="fa").acount() == 3  # the others committed


async def test_sets_in_a_step_scope_are_pipelined_and_coalesced_and_end_on_the_last_state(batches):
    with capture_changes() as changes:
        async with write_scope():
            for i in range(200):
                await streams.openai.aset("tok", "message", {"message": " ".join(["w"] * i)})
        await asyncio.sleep(0.05)
    stored = await StreamItem.objects.aget(stream="openai", group_id="tok", item_id="message")
    assert stored.data == {"message": " ".join(["w"] * 199)}  # the last state is written
    assert changes[-1].event["data"]["message"] == " ".join(["w"] * 199)  # and broadcast last
    assert len(changes) == sum(batches) < 200  # intermediate states were skipped, never reordered
    timestamps = [c.timestamp for c in changes]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(timestamps)


async def test_a_step_reads_its_own_writes_and_they_are_committed_when_the_scope_ends():
    def committed() -> bool:
        return StreamItem.objects.filter(group_id="ryw", item_id="a").exists()

    async with write_scope():
        await streams.chatMessage.aset("ryw", "a", chat("a"))
        assert await streams.chatMessage.aget("ryw", "a") == chat("a")  # the read waited for the write
        await streams.chatMessage.aset("ryw", "b", chat("b"))
    assert await to_thread(committed)()
    assert await streams.chatMessage.aget("ryw", "b") == chat("b")


async def test_a_failed_pipelined_write_fails_the_scope(monkeypatch):
    def broken_set(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(streams.chatMessage.backend, "set", broken_set)
    with pytest.raises(RuntimeError, match="disk full"):
        async with write_scope():
            await streams.chatMessage.aset("fail", "a", chat("a"))  # returns at once ...
    # ... and the step that made it fails when it ends
