"""Back-pressure: each socket's frames go through one bounded queue, drained in order by one writer task.

A stalled client fills its queue, not the server's memory; past ``SEND_QUEUE_LIMIT`` frames the consumer cuts
it off (close code 4013) and it resyncs on reconnect. uvicorn's ``send`` waits while the socket's buffer is
full. Daphne's never does (frames pile up in Twisted's write buffer), so for Daphne a push producer registered
with the socket (``watch_transport``) pauses the writer while Twisted's buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Outbox", "TransportWatch", "unwatch_transport", "watch_transport"]

logger = logging.getLogger("motia_django.consumer")


class Outbox:
    """A bounded queue of outgoing frames drained, in order, by one writer task.

    ``writable`` is cleared while the transport asks us to pause (Daphne's Twisted transport, see
    ``watch_transport``), so a stalled client fills this queue instead of the server's memory.
    """

    def __init__(self, send: Callable[[str], Awaitable[None]], limit: int) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=max(1, limit))
        self.writable = asyncio.Event()
        self.writable.set()
        self._send = send
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def put(self, text: str) -> bool:
        """Queue a frame; False when the queue is full (the client is too slow)."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    async def _run(self) -> None:
        while True:
            text = await self.queue.get()
            await self.writable.wait()
            try:
                await self._send(text)
            except Exception:
                logger.debug("Sending to a WebSocket failed; stopping its writer", exc_info=True)
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        while not self.queue.empty():
            self.queue.get_nowait()


class TransportWatch:
    """A Twisted push producer: Twisted calls pause/resume as the socket's write buffer fills and drains."""

    def __init__(self, writable: asyncio.Event) -> None:
        self.writable = writable

    def pauseProducing(self) -> None:  # Twisted IPushProducer
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        self.writable.set()


def _daphne_protocol(send: Any) -> Any:
    """Daphne's protocol object behind an ASGI ``send`` (``partial(server.handle_reply, protocol)``), or None.

    Daphne never blocks ``send``: frames pile up in Twisted's write buffer. A push producer registered with
    the socket's consumer (``_twisted_consumer``) is Twisted's public way to hear when that buffer is full.
    Channels' session middleware wraps ``send`` (``InstanceSessionWrapper.real_send``); it is looked through.
    """
    for _ in range(8):
        wrapped = getattr(getattr(send, "__self__", None), "real_send", None)
        if wrapped is None:
            break
        send = wrapped
    if not isinstance(send, functools.partial) or len(send.args) != 1:
        return None
    owner = getattr(send.func, "__self__", None)
    if not type(owner).__module__.startswith("daphne."):
        return None
    protocol = send.args[0]
    return protocol if hasattr(protocol, "registerProducer") else None


def _twisted_consumer(protocol: Any) -> Any:
    """Where to register a push producer for Daphne's socket.

    The TCP transport's producer is Twisted web's ``HTTPChannel`` (the upgraded request's); as an
    ``IConsumer`` it passes the transport's pause/resume on to the producer registered with it.
    """
    transport = getattr(protocol, "transport", None)
    for _ in range(4):
        if transport is None:
            return None
        channel = getattr(transport, "producer", None)
        if channel is not None and hasattr(channel, "registerProducer") and hasattr(channel, "pauseProducing"):
            return channel
        transport = getattr(transport, "transport", None)
    return None


def watch_transport(send: Any, outbox: Outbox) -> tuple[Any, TransportWatch] | None:
    """On Daphne, register a push producer that pauses ``outbox`` while the socket's buffer is full; returns
    ``(twisted_consumer, watch)`` to unregister on disconnect, or None (another server, or not possible)."""
    consumer = _twisted_consumer(_daphne_protocol(send))
    if consumer is None:
        return None
    watch = TransportWatch(outbox.writable)
    try:
        consumer.registerProducer(watch, True)
    except Exception:  # another producer is registered: sends then never pause
        logger.debug("Could not watch the transport's write buffer", exc_info=True)
        return None
    return consumer, watch


def unwatch_transport(registration: tuple[Any, TransportWatch] | None) -> None:
    if registration is not None:
        with contextlib.suppress(Exception):
            registration[0].unregisterProducer()
