"""The outbox: one bounded, ordered queue of frames per socket, paused while the transport is full."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia_django.realtime.consumer import CLOSE_SLOW_CLIENT, StreamConsumer
from motia_django.realtime.send_queue import SendQueue
from motia_django.stream.registry import streams
from tests.support.realtime import Client


async def test_outbox_keeps_order_and_bounds_memory():
    sent: list[str] = []
    outbox = SendQueue(Outlet(lambda text: _append(sent, text)), limit=2)
    outbox.writable = asyncio.Event()  # the transport asked us to pause
    assert outbox.push("a") and outbox.push("b")
    await asyncio.sleep(0)  # the writer took "a" and waits for the transport
    assert outbox.push("c") and not outbox.push("d") and not outbox.push("e")
    outbox.writable.set()
    while len(sent) < 3:
        await asyncio.sleep(0)
    assert sent == ["a", "b", "c"]
    await outbox.stop()


async def _append(sent: list[str], text: str) -> None:
    sent.append(text)


class Outlet:
    """A send queue's outlet made of callables (the consumer is one in the server)."""

    def __init__(self, send, on_error=None, on_full=None) -> None:
        self.send, self.on_error, self.on_full = send, on_error, on_full

    async def write_frame(self, text: str) -> None:
        await self.send(text)

    def frame_failed(self, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(exc)

    def queue_full(self) -> None:
        if self.on_full is not None:
            self.on_full()


async def test_an_idle_outbox_holds_no_task_and_a_failed_send_is_reported():
    failures: list[BaseException] = []

    async def broken(text: str) -> None:
        raise ConnectionResetError("gone")

    outbox = SendQueue(Outlet(broken, on_error=failures.append), limit=5)
    assert outbox._task is None
    outbox.push("a")
    outbox.push("b")
    await asyncio.sleep(0)
    assert [type(e) for e in failures] == [ConnectionResetError]
    assert outbox._task is None and not outbox.frames


async def test_a_newer_update_of_an_item_replaces_its_queued_update_in_place():
    sent: list[str] = []
    outbox = SendQueue(Outlet(lambda text: _append(sent, text)), limit=10)
    outbox.writable = asyncio.Event()  # paused: everything below stays queued
    x, y = ("s", "g", "x"), ("s", "g", "y")
    assert outbox.push("x1", x, update=True)
    await asyncio.sleep(0)  # the writer took x1 and waits for the transport
    outbox.push("x2", x, update=True)
    outbox.push("y-create", y)
    outbox.push("x3", x, update=True)  # replaces x2, which is still queued, in its place
    outbox.push("x-event", x)  # an event of x: a later update must not jump over it
    outbox.push("x4", x, update=True)
    outbox.push("x-delete", x)
    outbox.push("x5", x, update=True)
    assert len(outbox) == 6
    outbox.writable.set()
    while len(sent) < 7:
        await asyncio.sleep(0)
    assert sent == ["x1", "x3", "y-create", "x-event", "x4", "x-delete", "x5"]
    assert outbox.latest is None and outbox._task is None  # idle again: no queue, no task


# --- the byte bound, a re-join's sync, and the property (docs/security.md, "Limits") ------------------------------


def paused(limit: int = 1000, max_bytes: int | None = None) -> tuple[SendQueue, list[str], list[bool]]:
    """A queue whose transport asked it to pause: everything pushed stays queued until ``writable`` is set."""
    sent: list[str] = []
    full: list[bool] = []
    outbox = SendQueue(Outlet(lambda text: _append(sent, text), on_full=lambda: full.append(True)), limit=limit,
                       max_bytes=max_bytes)
    outbox.writable = asyncio.Event()
    return outbox, sent, full


async def test_the_queue_is_bounded_in_bytes_as_well_as_frames():
    outbox, _sent, full = paused(limit=1000, max_bytes=100)
    assert outbox.push("a" * 60) and outbox.push("b" * 30)  # 90 bytes wait
    assert outbox.bytes == 90 and not full
    assert not outbox.push("c" * 20)  # 110 > 100: refused, and the socket is told it is too slow
    assert full == [True] and outbox.bytes == 90 and len(outbox) == 2
    assert outbox.push("d" * 10)  # exactly the bound still fits
    assert outbox.bytes == 100
    assert not outbox.push("é")  # two bytes of UTF-8: the bound is in bytes, not characters
    await outbox.stop()


async def test_the_frame_limit_holds_however_small_the_frames():
    outbox, _sent, full = paused(limit=3, max_bytes=1 << 20)
    assert all(outbox.push("x") for _ in range(3))
    assert not outbox.push("x") and full == [True] and len(outbox) == 3
    await outbox.stop()


async def test_a_newer_update_cannot_grow_the_queue_past_its_byte_bound():
    outbox, _sent, full = paused(limit=1000, max_bytes=100)
    key = ("s", "g", "x")
    assert outbox.push("u" * 10, key, update=True) and outbox.push("e" * 50)
    assert not outbox.push("U" * 60, key, update=True)  # 50 + 60 > 100: refused, not swapped in
    assert full == [True] and outbox.bytes == 60
    assert outbox.push("v" * 5, key, update=True)  # a smaller state still replaces it in place
    assert outbox.bytes == 55 and [e.text for e in outbox.frames] == ["v" * 5, "e" * 50]
    await outbox.stop()


async def test_a_re_join_replaces_its_queued_unsent_sync():
    outbox, sent, _full = paused()
    assert outbox.push("sync1", sync="a")
    await asyncio.sleep(0)  # the writer took sync1 and waits for the transport: it can no longer be replaced
    outbox.push("sync2-page1", sync="a")
    outbox.push("sync2-page2", sync="a")
    outbox.push("other-sync", sync="b")
    outbox.push("change")
    outbox.drop_sync("a")  # a re-join of "a": its waiting pages go, nothing else does
    outbox.push("sync3", sync="a")
    assert [e.text for e in outbox.frames] == ["other-sync", "change", "sync3"]
    assert outbox.bytes == sum(e.size for e in outbox.frames)
    assert outbox.syncs is not None and [e.text for e in outbox.syncs["a"]] == ["sync3"]
    outbox.drop_sync("nothing-queued")  # a subscription with no waiting sync: nothing happens
    outbox.writable.set()
    while len(sent) < 4:
        await asyncio.sleep(0)
    assert sent == ["sync1", "other-sync", "change", "sync3"]
    assert outbox.syncs is None and outbox.bytes == 0 and outbox._task is None


async def test_600_re_joins_hold_one_sync_not_600():
    outbox, _sent, full = paused(limit=1000, max_bytes=4096)
    page = "p" * 1000
    for _ in range(600):
        outbox.drop_sync("s")
        assert outbox.push(page, sync="s") and outbox.push(page, sync="s")  # a sync of two pages
    assert not full and len(outbox) == 2 and outbox.bytes == 2000
    await outbox.stop()


# --- the property: whatever is queued, the bounds hold and the counts agree ---------------------------------------

LIMIT, MAX_BYTES = 8, 400
_ops = st.one_of(
    st.tuples(st.just("push"), st.integers(1, 300), st.sampled_from([None, 0, 1, 2]), st.booleans(),
              st.sampled_from([None, "a", "b"])),
    st.tuples(st.just("drop"), st.sampled_from(["a", "b"])),
    st.tuples(st.just("send"), st.integers(1, 4)),
)


async def _run_ops(ops: list[tuple[Any, ...]]) -> None:
    permits = asyncio.Semaphore(0)
    sent: list[str] = []

    async def send(text: str) -> None:
        await permits.acquire()  # the transport takes a frame only when the test says so
        sent.append(text)

    outbox = SendQueue(Outlet(send), limit=LIMIT, max_bytes=MAX_BYTES)
    largest = 0
    accepted = refused = 0
    for n, op in enumerate(ops):
        if op[0] == "push":
            _, size, key, update, sync = op
            largest = max(largest, size)
            item = None if key is None else ("s", "g", str(key))
            if outbox.push(f"{n:04d}".ljust(size, "x")[:size], item, update=update, sync=sync):
                accepted += 1
            else:
                refused += 1
        elif op[0] == "drop":
            outbox.drop_sync(op[1])
        else:
            for _ in range(op[1]):
                permits.release()
            for _ in range(5):
                await asyncio.sleep(0)
        frames = list(outbox.frames)
        assert outbox.bytes == sum(e.size for e in frames)
        assert outbox.bytes <= MAX_BYTES + largest  # the bound, plus at most the one frame it let in
        assert len(frames) <= LIMIT
        ids = {id(e) for e in frames}
        for name, entries in (outbox.syncs or {}).items():
            assert entries and all(id(e) in ids and e.sync == name for e in entries)
        for key, entry in (outbox.latest or {}).items():
            assert id(entry) in ids and entry.key == key
        assert len(sent) <= accepted
    await outbox.stop()
    assert outbox.bytes == 0 and not outbox.frames and outbox._task is None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_ops, max_size=60))
def test_queued_bytes_never_exceed_the_bound_plus_one_frame(ops):
    asyncio.run(_run_ops(ops))


# --- over a consumer: the byte bound cuts a slow socket off (4013); re-joins hold one sync -------------------------


@pytest.fixture
def stalled(monkeypatch):
    """The socket's first frame goes out, then the client stops reading until ``release`` is set."""
    release = asyncio.Event()
    written: list[str] = []

    async def stalled_write(self, text):
        if written:
            await release.wait()
        written.append(text)
        await self.send(text_data=text)

    monkeypatch.setattr(StreamConsumer, "write_frame", stalled_write)
    return release, written


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_a_socket_past_send_queue_bytes_is_cut_off_with_4013(stalled):
    release, _written = stalled
    with override_settings(MOTIA={"SEND_QUEUE_LIMIT": 1000, "SEND_QUEUE_BYTES": 8 * 1024,
                                  "SYNC_MAX_BYTES": 8 * 1024}):
        client = await Client().connect()
        await client.join("chatMessage", "room")
        await client.next()
        for i in range(12):  # a dozen 1 KiB events: far under the frame limit, over the byte bound
            await streams.chatMessage.asend({"groupId": "room"}, {"type": "tick", "data": {"i": i, "pad": "x" * 1024}})
        output = await client.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": CLOSE_SLOW_CLIENT}
        release.set()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_600_re_joins_of_a_socket_that_does_not_read_leave_one_sync_waiting(stalled, monkeypatch):
    release, _written = stalled
    for i in range(5):
        await streams.chatMessage.aset("big", f"m{i}", {"id": f"m{i}", "user_id": "u", "message": "x" * 1000,
                                                        "timestamp": "t"})
    pushed: list[int] = []
    queued: list[tuple[int, int]] = []
    real = StreamConsumer._push_sync

    def counting(self, sub, sync):
        real(self, sub, sync)
        pushed.append(1)
        queued.append((len(self.queue), self.queue.bytes))

    monkeypatch.setattr(StreamConsumer, "_push_sync", counting)
    with override_settings(MOTIA={"JOIN_BURST": 1000, "JOIN_RATE": 1000.0}):
        client = await Client().connect()
        for _ in range(600):
            await client.join("chatMessage", "big", sub="same")
        while len(pushed) < 600:
            await asyncio.sleep(0.01)
        assert all(frames <= 1 for frames, _ in queued)  # one sync waits, however many re-joins
        assert max(size for _, size in queued) < 10_000
        release.set()
        await client.join("fence", "end", sub="fence")  # answered after whatever the re-joins left queued
        frames = []
        while not frames or frames[-1]["groupId"] != "end":
            frames.append(await client.next())
        await client.close()
    syncs = [f for f in frames[:-1] if f["event"]["type"] == "sync"]
    assert len(syncs) == len(frames) - 1 <= 3  # not 600
    assert [item["id"] for item in syncs[-1]["event"]["data"]] == [f"m{i}" for i in range(5)]
