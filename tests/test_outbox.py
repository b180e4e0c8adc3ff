"""The outbox: one bounded, ordered queue of frames per socket, paused while the transport is full."""

from __future__ import annotations

import asyncio

from motia_django.outbox import Outbox


async def test_outbox_keeps_order_and_bounds_memory():
    sent: list[str] = []
    outbox = Outbox(lambda text: _append(sent, text), limit=2)
    outbox.writable.clear()  # the transport asked us to pause
    outbox.start()
    assert outbox.put("a") and outbox.put("b")
    await asyncio.sleep(0)
    assert outbox.put("c") and not outbox.put("d") and not outbox.put("e")
    outbox.writable.set()
    while len(sent) < 3:
        await asyncio.sleep(0)
    assert sent == ["a", "b", "c"]
    await outbox.stop()


async def _append(sent: list[str], text: str) -> None:
    sent.append(text)
