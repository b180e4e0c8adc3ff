"""``StreamClient``: one WebSocket, its subscriptions, and reconnecting with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar, cast

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from motia_django.client.frames import TOKEN_CHARS, ServerFrame, check_url, parse, reason
from motia_django.client.subscriptions import GroupSubscription, ItemSubscription, Subscription
from motia_django.encoding import encode
from motia_django.exceptions import (
    InvalidStreamURL,
    StreamAuthError,
    StreamClientError,
    StreamConnectionError,
    StreamJoinRefused,
    StreamTimeout,
)
from motia_django.stream.items import validate_key

__all__ = ["StreamClient"]

S = TypeVar("S")
Room = tuple[str, str, str | None]
Hook = Callable[["StreamClient"], object]

logger = logging.getLogger("motia_django.client")



class StreamClient:
    """One WebSocket to a motia_django (or Motia) server, shared by any number of subscriptions.

    ``url`` is the server's stream endpoint (``ws://127.0.0.1:3000``); ``token`` is offered as Motia's clients
    offer it, as the subprotocol pair ``["Authorization", token]`` (or put ``?authToken=`` in the URL).
    ``join_timeout`` bounds ``ready()``; ``reconnect=False`` ends every subscription with
    ``StreamConnectionError`` when the connection drops instead of reconnecting; ``on_reconnect`` callbacks
    (sync or async, given the client) run once the socket is open again and the joins are sent.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        reconnect: bool = True,
        min_backoff: float = 0.5,
        max_backoff: float = 10.0,
        open_timeout: float = 10.0,
        join_timeout: float = 10.0,
        max_size: int | None = 64 * 1024 * 1024,
        max_pending: int = 10_000,
        on_reconnect: Hook | None = None,
    ) -> None:
        self.url = check_url(url)
        if token is not None and not TOKEN_CHARS.fullmatch(token):
            raise StreamClientError("the token has characters a WebSocket subprotocol cannot carry; put it in the "
                                    "URL instead: ws://host:port/?authToken=<URL-encoded token>")
        self.token = token
        self.reconnect, self.min_backoff, self.max_backoff = reconnect, min_backoff, max_backoff
        self.open_timeout, self.join_timeout = open_timeout, join_timeout
        self.max_size, self.max_pending = max_size, max_pending
        self.reconnect_hooks: list[Hook] = [on_reconnect] if on_reconnect is not None else []
        #: How many times the connection was re-established.
        self.reconnects = 0
        #: Why the client stopped for good (auth refused on reconnect, or the connection lost without reconnect).
        self.error: BaseException | None = None
        self._ws: ClientConnection | None = None
        self._sending: asyncio.Queue[str] | None = None
        self._subs: dict[str, Subscription[Any]] = {}
        self._rooms: dict[Room, list[Subscription[Any]]] = {}
        self._pending: deque[Subscription[Any]] = deque()  # joins sent on this connection, not yet answered
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._hook_tasks: set[asyncio.Task[Any]] = set()
        self._open_event: asyncio.Event | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"<StreamClient {self.url} {'connected' if self.connected else 'not connected'}>"

    @property
    def connected(self) -> bool:
        """Is the socket open now? (False while reconnecting.)"""
        return self._ws is not None

    @property
    def subscriptions(self) -> list[Subscription[Any]]:
        """The live subscriptions, oldest first."""
        return list(self._subs.values())

    def on_reconnect(self, hook: Hook) -> Hook:
        """Register ``hook(client)`` (sync or async) to run after every reconnect; usable as a decorator."""
        self.reconnect_hooks.append(hook)
        return hook

    # --- connecting -------------------------------------------------------------------------------------------

    async def connect(self) -> Self:
        """Open the socket (once, no retry: a wrong URL or a stopped server is an error now, not a hang)."""
        if self._task is not None or self._closing:
            raise StreamClientError("this StreamClient is already connected (or closed); make a new one")
        self._open_event = asyncio.Event()
        self._opened(await self._open())
        self._task = asyncio.create_task(self._run(), name=f"motia-stream-client {self.url}")
        return self

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the socket is open (after a drop, until the client has reconnected)."""
        if self.error is not None:
            raise self.error.with_traceback(None)
        if self._open_event is None:
            raise StreamClientError("connect first: async with StreamClient(url) as client: ...")
        try:
            async with asyncio.timeout(timeout):
                while not self.connected:
                    if self.error is not None:
                        raise self.error.with_traceback(None)
                    await self._open_event.wait()
        except TimeoutError:
            raise StreamTimeout(f"{self.url}: not connected within {timeout}s") from None

    async def _open(self) -> ClientConnection:
        protocols = [Subprotocol("Authorization"), Subprotocol(self.token)] if self.token is not None else None
        try:
            return await ws_connect(self.url, subprotocols=protocols, open_timeout=self.open_timeout,
                                    max_size=self.max_size)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise StreamAuthError(f"{self.url} refused the connection (HTTP {status}): the token or session was "
                                      "not accepted (see MOTIA['AUTHENTICATE'])", status) from None
            raise StreamConnectionError(f"{self.url} answered HTTP {status} instead of a WebSocket upgrade: is it "
                                        "the stream endpoint (the ASGI application's websocket route)?") from None
        except InvalidURI as exc:
            raise InvalidStreamURL(f"{self.url!r} is not a valid WebSocket URL: {exc}") from None
        except InvalidHandshake as exc:
            raise StreamConnectionError(f"{self.url}: the WebSocket handshake failed: {exc}") from None
        except TimeoutError:
            raise StreamConnectionError(f"{self.url}: no answer within {self.open_timeout}s") from None
        except OSError as exc:
            raise StreamConnectionError(f"could not connect to {self.url}: {reason(exc)}") from None

    def _opened(self, ws: ClientConnection) -> None:
        """A socket is open: send a join for every live subscription, on a fresh clock."""
        self._ws = ws
        self._sending = asyncio.Queue()
        self._pending.clear()
        self._writer = asyncio.create_task(self._write(ws, self._sending))
        for sub in self._subs.values():
            sub.feed.restart()
            self._send_join(sub)
        assert self._open_event is not None
        self._open_event.set()

    async def _write(self, ws: ClientConnection, sending: asyncio.Queue[str]) -> None:
        """The one writer of a socket: frames leave in the order they were queued (the order joins are
        answered in, which is how a refusal finds its subscription)."""
        while True:
            text = await sending.get()
            try:
                await ws.send(text)
            except ConnectionClosed:
                return
            finally:
                sending.task_done()

    async def _run(self) -> None:
        while True:
            ws = self._ws
            assert ws is not None
            try:
                async for message in ws:
                    self._dispatch(message)
            except ConnectionClosed:
                pass
            except Exception:  # a bug in dispatching must not leave the client silently dead
                logger.exception("stream client: failed to handle a frame; reconnecting")
            self._closed_socket()
            if self._closing:
                return
            logger.info("stream client: connection to %s lost (code %s); reconnecting", self.url, ws.close_code)
            if not self.reconnect:
                self._fail(StreamConnectionError(f"the connection to {self.url} was lost (code {ws.close_code}) "
                                                 "and reconnect is off"))
                return
            try:
                self._opened(await self._reconnect())
            except StreamAuthError as exc:
                logger.warning("stream client: %s; not retrying", exc)
                self._fail(exc)
                return
            self.reconnects += 1
            self._run_hooks()

    def _closed_socket(self) -> None:
        self._ws = None
        if self._open_event is not None:
            self._open_event.clear()
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    async def _reconnect(self) -> ClientConnection:
        attempt = 0
        while True:
            delay = min(self.max_backoff, self.min_backoff * 2 ** min(attempt, 30))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                return await self._open()
            except StreamAuthError:
                raise
            except StreamClientError as exc:
                logger.info("stream client: reconnecting failed (%s); retrying", exc)
            attempt += 1

    def _run_hooks(self) -> None:
        for hook in self.reconnect_hooks:
            try:
                result = hook(self)
            except Exception:
                logger.exception("stream client: on_reconnect hook %r raised", hook)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(cast(Awaitable[Any], result))
                self._hook_tasks.add(task)
                task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Task[Any]) -> None:
        self._hook_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("stream client: on_reconnect hook raised", exc_info=task.exception())

    def _fail(self, error: BaseException) -> None:
        self.error = error
        for sub in list(self._subs.values()):
            self._forget(sub)
            sub.feed.end(error)
        if self._open_event is not None:
            self._open_event.set()  # wake wait_connected(), which raises the error

    async def close(self) -> None:
        """Leave every subscription and close the socket; iterations end."""
        if self._closing:
            return
        self._closing = True
        for sub in list(self._subs.values()):
            self.leave(sub)
            sub.feed.end()
        if self._sending is not None and self._ws is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._sending.join()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ws is not None:  # opened by a reconnect that finished as we closed
            await self._ws.close()
        self._closed_socket()
        for task in list(self._hook_tasks):
            task.cancel()

    # --- subscriptions ----------------------------------------------------------------------------------------

    def item(self, stream: str, group_id: str, id: str) -> ItemSubscription:
        """Subscribe to one item (``await`` the result for its first state)."""
        self._check_usable(stream, group_id, id)
        sub = ItemSubscription(self, stream, group_id, id, self.max_pending)
        self._add(sub)
        return sub

    def group(self, stream: str, group_id: str) -> GroupSubscription:
        """Subscribe to a whole group (``await`` the result for its first state)."""
        self._check_usable(stream, group_id)
        sub = GroupSubscription(self, stream, group_id, self.max_pending)
        self._add(sub)
        return sub

    def _check_usable(self, stream: str, group_id: str, id: str | None = None) -> None:
        if self.error is not None:
            raise self.error.with_traceback(None)
        if self._task is None or self._closing:
            raise StreamClientError("the client is not connected: use async with StreamClient(url) as client: ...")
        # The server answers a join it cannot name (empty or bad keys) with nothing at all: say it here.
        validate_key("stream name", stream)
        validate_key("group id", group_id, stream=stream)
        if id is not None:
            validate_key("item id", id, stream=stream)

    def _add(self, sub: Subscription[Any]) -> None:
        self._subs[sub.subscription_id] = sub
        self._rooms.setdefault((sub.stream, sub.group_id, sub.id), []).append(sub)
        self._send_join(sub)

    def _forget(self, sub: Subscription[Any]) -> bool:
        if self._subs.pop(sub.subscription_id, None) is None:
            return False
        room = (sub.stream, sub.group_id, sub.id)
        subs = self._rooms.get(room, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._rooms.pop(room, None)
        return True

    def _message(self, type: str, sub: Subscription[Any]) -> str:
        data = {"streamName": sub.stream, "groupId": sub.group_id, "subscriptionId": sub.subscription_id}
        if sub.id is not None:
            data["id"] = sub.id
        return encode({"type": type, "data": data})

    def _send_join(self, sub: Subscription[Any]) -> None:
        if self._ws is not None and self._sending is not None:  # else it is sent when the socket opens
            self._pending.append(sub)
            self._sending.put_nowait(self._message("join", sub))

    def leave(self, sub: Subscription[Any]) -> None:
        """Leave ``sub`` (what ``await sub.close()`` does): the server stops sending its changes."""
        if self._forget(sub) and self._ws is not None and self._sending is not None:
            self._sending.put_nowait(self._message("leave", sub))

    # --- frames from the server -------------------------------------------------------------------------------

    def _dispatch(self, message: str | bytes) -> None:
        frame = parse(message)
        if frame is None:
            logger.debug("stream client: ignored a frame that is not the protocol's: %.200r", message)
            return
        if (frame.type == "event" and frame.id is None and frame.event is not None and frame.event.type == "error"
                and self._refuse(frame)):
            return
        if frame.type == "sync":
            self._answered(frame)
        targets = list(self._rooms.get((frame.stream, frame.group_id, frame.id), ()))
        if frame.id is not None and frame.type != "sync":  # as the JS client routes: the group sees item frames
            targets += self._rooms.get((frame.stream, frame.group_id, None), ())
        for sub in targets:
            sub.feed.receive(frame)

    def _answered(self, frame: ServerFrame) -> None:
        """A ``sync`` answers the oldest join waiting on its room."""
        for sub in self._pending:
            if (sub.stream, sub.group_id, sub.id) == (frame.stream, frame.group_id, frame.id):
                self._pending.remove(sub)
                return

    def _refuse(self, frame: ServerFrame) -> bool:
        """An error event answers the oldest join waiting on its stream and group (errors carry no id); that
        subscription ends with ``StreamJoinRefused``. False when no join waits (an event for the group)."""
        for sub in self._pending:
            if (sub.stream, sub.group_id) == (frame.stream, frame.group_id):
                self._pending.remove(sub)
                data = frame.event.data if frame.event is not None and isinstance(frame.event.data, dict) else {}
                error = StreamJoinRefused(str(data.get("code", "ERROR")), str(data.get("message", "")),
                                          sub.stream, sub.group_id, sub.id)
                if self._forget(sub):
                    sub.feed.end(error)
                return True
        return False
