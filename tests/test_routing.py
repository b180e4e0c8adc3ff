"""motia_django.routing: the ``"websocket"`` application (stream paths, the session user, a project's own routes)
and the ``"channel"`` application (the event worker's wake-ups)."""

from __future__ import annotations

import asyncio

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import ApplicationCommunicator, WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.urls import path

from motia_django import routing
from motia_django.routing import STREAMS_PATH, StreamsApplication, channel_application, websocket_application
from motia_django.steps import worker
from motia_django.steps.worker import EventWorkerConsumer
from tests.support.realtime import Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layers")]


async def connects(application, path: str) -> bool:
    client = Client(path, application=application)
    await client.connect()
    if client.connected:
        await client.close()
    return client.connected


async def test_the_stream_paths_are_served():
    assert STREAMS_PATH == "motia/streams/"
    app = websocket_application()
    assert await connects(app, "/")
    assert await connects(app, "/motia/streams/")
    client = await Client("/motia/streams/", application=app).connect()  # a working stream socket
    await client.join("chatMessage", "routing", sub="s")
    assert (await client.next())["event"] == {"type": "sync", "data": []}
    await client.close()


async def test_root_false_leaves_the_root_free():
    app = websocket_application(root=False)
    assert not await connects(app, "/")
    assert await connects(app, "/motia/streams/")


@pytest.mark.parametrize("unknown", ["/elsewhere/", "/motia/streams", "/motia/streams/x/"])
async def test_an_unknown_path_is_refused(unknown):
    communicator = WebsocketCommunicator(websocket_application(), unknown)
    connected, code = await communicator.connect()
    assert not connected and code == 1000


class Echo(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.accept()
        await self.send_json({"path": self.scope["path"], "anonymous": self.scope["user"].is_anonymous,
                              "session": "session" in self.scope})


async def test_extra_patterns_are_served_behind_the_auth_stack():
    app = websocket_application(extra_patterns=[path("chat/", Echo.as_asgi())])
    communicator = WebsocketCommunicator(app, "/chat/")
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {"path": "/chat/", "anonymous": True, "session": True}
    await communicator.disconnect()
    assert await connects(app, "/")  # the stream paths still come first


class Scopes:
    """Stands in for the consumer: records the scope it is given."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)


def test_the_streams_application_is_an_asgi3_application():
    """``__call__`` returns the consumer's coroutine (no frame of its own per socket) but is marked as a coroutine
    function, which is how servers (uvicorn) tell ASGI 3 from ASGI 2."""
    import asyncio

    app = StreamsApplication(("/",))
    assert asyncio.iscoroutinefunction(app.__call__)


async def test_a_path_not_served_is_refused():
    sent = []

    async def send(message):
        sent.append(message)

    await StreamsApplication(("/",))({"type": "websocket", "path": "/elsewhere/", "headers": []}, None, send)
    assert sent == [{"type": "websocket.close", "code": 1000}]


async def test_without_a_session_cookie_the_user_is_anonymous():
    app = StreamsApplication(("/",))
    app.consumer = Scopes()
    await app({"type": "websocket", "path": "/", "headers": [(b"cookie", b"other=1")]}, None, None)
    (scope,) = app.consumer.scopes
    assert scope["cookies"] == {"other": "1"}
    assert isinstance(scope["user"], AnonymousUser) and "session" not in scope


async def test_a_session_cookie_gives_the_session_user_lazily(django_user_model):
    from asgiref.sync import sync_to_async
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    def log_in() -> tuple[str, int]:
        user = django_user_model.objects.create_user("ann", password="pw")
        session = SessionStore()
        session.update({SESSION_KEY: str(user.pk), HASH_SESSION_KEY: user.get_session_auth_hash(),
                        BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend"})
        session.save()
        return session.session_key, user.pk

    key, pk = await sync_to_async(log_in)()
    app = StreamsApplication(("/",))
    app.consumer = Scopes()
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={key}".encode()
    await app({"type": "websocket", "path": "/", "headers": [(b"cookie", cookie)]}, None, None)
    (scope,) = app.consumer.scopes
    user = await sync_to_async(lambda: (scope["user"].pk, scope["session"].session_key))()
    assert user == (pk, key)


def test_websocket_urlpatterns_name_both_paths():
    assert [str(p.pattern) for p in routing.websocket_urlpatterns] == ["", STREAMS_PATH]


def test_channel_application_routes_the_worker_channel():
    app = channel_application()
    assert list(app.application_mapping) == ["motia-events"]
    assert app.application_mapping["motia-events"].consumer_class is EventWorkerConsumer


def test_channel_application_follows_the_setting(settings):
    settings.MOTIA = {"WORKER_CHANNEL": "my-events"}
    assert list(channel_application().application_mapping) == ["my-events"]


async def test_a_wake_up_on_the_worker_channel_notifies_the_runner(monkeypatch):
    class Runner:
        notified = 0

        def notify(self):
            Runner.notified += 1

    monkeypatch.setattr(worker, "background_worker", Runner)
    communicator = ApplicationCommunicator(channel_application(), {"type": "channel", "channel": "motia-events"})
    await communicator.send_input({"type": "motia.wake"})
    for _ in range(500):
        if Runner.notified:
            break
        await asyncio.sleep(0.01)
    assert Runner.notified == 1
    communicator.stop()  # the consumer keeps listening otherwise


async def test_an_unknown_channel_is_an_error():
    with pytest.raises(ValueError, match="No application configured for channel name"):
        await channel_application()({"type": "channel", "channel": "other"}, None, None)
