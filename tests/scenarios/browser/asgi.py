"""The example project's ASGI application with static files served, as ``manage.py runserver`` does in DEBUG.

``python -m daphne example_project.asgi:application`` serves no static files; the workbench pages need theirs.
"""

import os

from channels.routing import ProtocolTypeRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.scenarios.browser.settings")
django_application = get_asgi_application()

from motia_django.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({
    "http": ASGIStaticFilesHandler(django_application),
    "websocket": websocket_application(),
})
