"""ASGI entry point: HTTP to Django (API steps on motia_django's lean handler), WebSocket to motia_django's stream
consumer (at ``/``), the ``channel`` type to the event worker (wake-ups for Channels' ``runworker
motia-events``; ``manage.py motia_worker`` needs no route), and ``lifespan`` to motia_django's (servers that
speak it, e.g. uvicorn, stop the in-process event runner through it, which gives back its running events)."""

import os

from channels.routing import ProtocolTypeRouter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

from motia_django.asgi import get_asgi_application, lifespan

http_application = get_asgi_application()  # sets Django up before the consumer is imported

from motia_django.routing import channel_application, websocket_application  # noqa: E402

application = ProtocolTypeRouter({
    "http": http_application,
    "websocket": websocket_application(),
    "channel": channel_application(),
    "lifespan": lifespan,
})
