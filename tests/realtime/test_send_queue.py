"""The outbox: one bounded, ordered queue of frames per socket, paused while the transport is full."""

from __future__ import annotations

import asyncio

from motia_django.realtime.send_queue import SendQueue


async def test_outbox_keeps_order_and_bounds_memory():
    sent: list[str] = []
    outbox = SendQueue(lambda text: _append(sent, text), limit=2)
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


async def test_an_idle_outbox_holds_no_task_and_a_failed_send_is_reported():
    failures: list[BaseException] = []

    async def broken(text: str) -> None:
        raise ConnectionResetError("gone")

    outbox = SendQueue(broken, limit=5, on_error=failures.append)
    assert outbox._task is None
    outbox.push("a")
    outbox.push("b")
    await asyncio.sleep(0)
    assert [type(e) for e in failures] == [ConnectionResetError]
    assert outbox._task is None and not outbox.frames


async def test_a_newer_update_of_an_item_replaces_its_queued_update_in_place():
    sent: list[str] = []
    outbox = SendQueue(lambda text: _append(sent, text), limit=10)
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
