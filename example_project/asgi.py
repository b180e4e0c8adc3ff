"""ASGI entry point: HTTP to Django, WebSocket to motia_django's stream consumer (at ``/``), and the ``channel``
type to the event worker (``manage.py runworker motia-events``)."""

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
