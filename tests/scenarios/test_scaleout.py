"""Scale-out over the real Redis and PostgreSQL: two Daphne processes with channels-redis (``REDIS_URL``) and
a third process writing (``manage.py shell``); clients on both servers receive every change once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.realtime import chat, write
from tests.support.server import LiveServer, base_env, live_database, manage

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def join(ws: ClientConnection, group: str, id: str | None = None, sub: str = "s") -> dict[str, Any]:
    data = {"streamName": "chatMessage", "groupId": group, "subscriptionId": sub, **({"id": id} if id else {})}
    ws.send(json.dumps({"type": "join", "data": data}))
    return recv(ws)


def recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=15))
    return frame


def test_a_write_in_a_third_process_reaches_clients_on_two_servers(postgres_url, redis_url, tmp_path):
    with live_database(tmp_path, postgres_url) as db_url:
        env = base_env(db_url, REDIS_URL=redis_url)
        with LiveServer(env, log_dir=tmp_path) as one, LiveServer(env, log_dir=tmp_path) as two, \
                connect(one.ws_url, open_timeout=10) as a, connect(two.ws_url, open_timeout=10) as b:
            assert join(a, "scale")["event"] == {"type": "sync", "data": []}
            assert join(b, "scale")["event"] == {"type": "sync", "data": []}
            assert join(b, "scale", "m1", sub="item")["event"] == {"type": "sync", "data": None}

            # a third process (a shell, as a worker or cron job would be) writes and sends
            manage(env, "shell", "-c", (
                "from motia_django.stream.registry import streams\n"
                "streams.chatMessage.set('scale', 'm1', {'id': 'm1', 'user_id': 'u1', 'message': 'hi', "
                "'timestamp': '2025-01-01T00:00:00Z'})\n"
                "streams.chatMessage.send({'groupId': 'scale', 'id': 'm1'}, {'type': 'typing', 'data': {}})\n"
            ))
            for ws in (a, b):  # b has a group and an item subscription: still once each ("Delivery")
                create = recv(ws)
                assert create["id"] == "m1" and create["event"] == {"type": "create", "data": chat("m1")}
                assert recv(ws)["event"] == {"type": "event", "event": {"type": "typing", "data": {}}}

            # a write inside server one reaches the client of server two, and the other way round
            write(one, "set", stream="chatMessage", group="scale", id="m2", data=chat("m2"))
            write(two, "delete", stream="chatMessage", group="scale", id="m1")
            for ws in (a, b):
                assert recv(ws)["event"] == {"type": "create", "data": chat("m2")}
                assert recv(ws)["event"] == {"type": "delete", "data": chat("m1")}

            # a client of server one that leaves no longer hears; server two's still does
            a.send(json.dumps({"type": "leave", "data": {"streamName": "chatMessage", "groupId": "scale",
                                                         "subscriptionId": "s"}}))
            join(a, "fence-group", sub="fence")
            write(one, "set", stream="chatMessage", group="scale", id="m3", data=chat("m3"))
            write(one, "send", stream="chatMessage", channel={"groupId": "fence-group"},
                  event={"type": "fence", "data": {}})
            assert recv(b)["event"] == {"type": "create", "data": chat("m3")}
            assert recv(a)["event"]["event"]["type"] == "fence"
