"""A Python client for the stream WebSocket: Motia's JS client for scripts, services, the CLI and tests.

::

    async with StreamClient("ws://127.0.0.1:3000", token="...") as client:
        room = await client.group("chatMessage", "room-1")    # waits for the group's first sync
        print(room.state)                                      # its items, in creation order
        async for notice in room:                              # sync, create, update, delete, event
            print(notice.type, notice.item, notice.event)

Frames are applied to a subscription's state as ``@motiadev/stream-client`` applies them (docs/protocol.md), so
a Python consumer sees what a browser sees: a group ignores a ``sync`` older than its last update or delete,
drops an ``update`` for an id it does not hold and a ``create`` for one it does; an item drops every frame not
newer than its last. The first notification of every subscription is its ``sync``.

The connection is kept: when it drops, the client reconnects with backoff (0.5 s doubling to 10 s, jittered)
and joins every live subscription again, and each one's fresh ``sync`` replaces its state (a ``Notification`` with
``resync=True``). A new connection starts every subscription's clock afresh, which is where we differ from
the JS client: its stale view never outlives a reconnect, even when the server's clock moved back.

What is not retried, because retrying would not help: a refused handshake (HTTP 401/403,
``StreamAuthError``), and the first connection (a wrong URL or a server that is down is said at once, as
``InvalidStreamURL`` or ``StreamConnectionError``). A refused join raises ``StreamJoinRefused`` from
``ready()`` (and from the iterator, when a re-join after a reconnect is refused).

``SyncStreamClient`` (and ``connect()``) run the same client on a background thread for plain scripts::

    reply = connect("ws://127.0.0.1:3000").item("openai", trace_id, "message").get()

This module needs no Django settings: it imports only motia_django's leaf layer. It needs websockets, the
``client`` extra: without it, importing it raises an ImportError that names the extra.
"""

from motia_django.compat import require_extra

require_extra("client", "motia_django.client")

from motia_django.client.connection import StreamClient  # noqa: E402 - after the check of its extra
from motia_django.client.frames import EphemeralEvent, Notification, NotificationType  # noqa: E402
from motia_django.client.subscriptions import GroupSubscription, ItemSubscription, Subscription  # noqa: E402
from motia_django.client.sync import SyncStreamClient, SyncSubscription, connect  # noqa: E402

__all__ = [
    "EphemeralEvent",
    "GroupSubscription",
    "ItemSubscription",
    "Notification",
    "NotificationType",
    "StreamClient",
    "Subscription",
    "SyncStreamClient",
    "SyncSubscription",
    "connect",
]
