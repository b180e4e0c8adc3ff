"""The example project's ASGI application, with the event worker's channel route added if it lacks one."""

from channels.routing import ProtocolTypeRouter

from example_project.asgi import application as example_application
from motia_django.worker import channel_router

_routes = dict(getattr(example_application, "application_mapping", {}))
_routes.setdefault("channel", channel_router())
application = ProtocolTypeRouter(_routes)
