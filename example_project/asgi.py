"""ASGI entry point: HTTP to Django, WebSocket to motia_django's stream consumer (at ``/``), and the ``channel``
type to the event worker (wake-ups for ``manage.py runworker motia-events``; ``manage.py motia_worker`` needs
no route)."""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django_application = get_asgi_application()  # sets Django up before the consumer is imported

from motia_django.routing import websocket_application  # noqa: E402
from motia_django.worker import channel_router  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_application,
    "websocket": websocket_application(),
    "channel": channel_router(),
})
