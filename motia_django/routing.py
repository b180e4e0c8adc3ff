"""WebSocket routes for the stream consumer.

Motia's clients connect to the bare origin (``ws://localhost:3000``), so the consumer is routed at ``/``;
projects whose ``/`` WebSocket is taken use ``/motia/streams/`` (``STREAMS_PATH``) instead. A project's
``asgi.py`` needs three lines::

    from motia_django.routing import websocket_application
    application = ProtocolTypeRouter({"http": get_asgi_application(), "websocket": websocket_application()})
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import URLPattern, path

from motia_django.consumer import StreamConsumer

__all__ = ["STREAMS_PATH", "websocket_application", "websocket_urlpatterns"]

#: The documented alternative path (without the leading slash, as in ``urls.py``).
STREAMS_PATH = "motia/streams/"

websocket_urlpatterns: list[URLPattern] = [
    path("", StreamConsumer.as_asgi()),
    path(STREAMS_PATH, StreamConsumer.as_asgi()),
]


def websocket_application(*, root: bool = True, extra_patterns: list[Any] | None = None) -> Any:
    """The ``"websocket"`` application: the stream consumer behind Channels' session auth middleware.

    ``root=False`` leaves ``/`` free (only ``/motia/streams/`` is served); ``extra_patterns`` adds a project's
    own WebSocket routes, tried first.
    """
    patterns = [*(extra_patterns or []), *(websocket_urlpatterns if root else websocket_urlpatterns[1:])]
    return AuthMiddlewareStack(URLRouter(patterns))
