"""ASGI entry point: HTTP to Django, WebSocket to motia_django's stream consumer (added by the realtime layer)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
application = get_asgi_application()
