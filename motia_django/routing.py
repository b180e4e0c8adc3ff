"""The ASGI applications besides HTTP: ``"websocket"`` (the stream consumer at ``/`` and ``/motia/streams/``, with
the session user) and ``"channel"`` (the event worker's wake-ups).

Motia's clients connect to the bare origin (``ws://localhost:3000``), so the consumer is served at ``/``;
projects whose ``/`` WebSocket is taken use ``/motia/streams/`` (``STREAMS_PATH``) instead. A project's
``asgi.py`` needs::

    from motia_django.routing import websocket_application
    application = ProtocolTypeRouter({"http": ..., "websocket": websocket_application()})

For the stream paths, ``StreamsApplication`` does what Channels' ``AuthMiddlewareStack`` would (cookies, a
lazy session, the session user resolved at connect) in one scope, without a middleware wrapper per layer
alive for the whole connection: an idle subscribed socket is mostly its server's own state. Other paths go
to the project's ``extra_patterns`` behind Channels' ``AuthMiddlewareStack``, as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Any

from asgiref.sync import markcoroutinefunction
from channels.auth import AuthMiddlewareStack, get_user
from channels.routing import URLRouter
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from django.urls import URLPattern, path
from django.utils.functional import SimpleLazyObject

from motia_django.realtime.consumer import StreamConsumer
from motia_django.steps.worker import channel_router

__all__ = [
    "STREAMS_PATH", "StreamsApplication", "channel_application", "websocket_application", "websocket_urlpatterns",
]

#: The documented alternative path (without the leading slash, as in ``urls.py``).
STREAMS_PATH = "motia/streams/"

websocket_urlpatterns: list[URLPattern] = [
    path("", StreamConsumer.as_asgi()),
    path(STREAMS_PATH, StreamConsumer.as_asgi()),
]


def _session(cookies: dict[str, str]) -> Any:
    key = cookies.get(settings.SESSION_COOKIE_NAME)
    return import_module(settings.SESSION_ENGINE).SessionStore(key)


class StreamsApplication:
    """Serves the stream consumer at ``paths``; hands any other path to ``fallback`` (or refuses it).

    ``__call__`` is a plain function that returns the consumer's coroutine (marked as a coroutine function, so
    servers still see an ASGI 3 application): the consumer runs under the router's frame alone, with no frame of
    this application, nor of ``as_asgi``'s wrapper, held for the life of every socket (about 0.5 KiB each)."""

    def __init__(self, paths: tuple[str, ...], fallback: Any = None) -> None:
        self.paths = paths
        self.fallback = fallback
        self.consumer: Callable[..., Awaitable[None]] = serve

    @markcoroutinefunction
    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        if self.fallback is not None and scope.get("path") not in self.paths:
            return self.fallback(scope, receive, send)
        if scope.get("path") not in self.paths:
            return send({"type": "websocket.close", "code": 1000})  # no route: refuse the upgrade (403)
        cookies: dict[str, str] = {}
        for name, value in scope.get("headers") or ():
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        scope = dict(scope, cookies=cookies)
        if settings.SESSION_COOKIE_NAME in cookies:  # loaded (from the database) by the consumer at connect
            session = scope["session"] = SimpleLazyObject(lambda: _session(cookies))
            scope["user"] = SimpleLazyObject(lambda: get_user.func({"session": session}))
        else:
            scope["user"] = AnonymousUser()
        return self.consumer(scope, receive, send)


def serve(scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
    """A new ``StreamConsumer`` on one connection: what ``StreamConsumer.as_asgi()`` does, without a frame."""
    return StreamConsumer()(scope, receive, send)


def websocket_application(*, root: bool = True, extra_patterns: list[Any] | None = None) -> Any:
    """The ``"websocket"`` application: the stream consumer with the session user.

    ``root=False`` leaves ``/`` free (only ``/motia/streams/`` is served); ``extra_patterns`` adds a project's
    own WebSocket routes, served behind Channels' ``AuthMiddlewareStack``.
    """
    paths = ("/", f"/{STREAMS_PATH}") if root else (f"/{STREAMS_PATH}",)
    fallback = AuthMiddlewareStack(URLRouter(list(extra_patterns))) if extra_patterns else None
    return StreamsApplication(paths, fallback)


def channel_application() -> Any:
    """The ``"channel"`` application: the event worker's wake-ups on ``MOTIA["WORKER_CHANNEL"]``, for Channels'
    ``manage.py runworker motia-events`` (``manage.py motia_worker`` needs no route)."""
    return channel_router()
