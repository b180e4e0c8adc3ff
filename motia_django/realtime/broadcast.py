"""Committed changes to subscribers: this process's sockets through the hub, other processes through the relay.

``connect()`` (from ``AppConfig.ready()``) listens to ``stream_changed`` (sent after commit) and hands each
``Change`` to ``hub.publish``. It also builds the relay when the broadcast layer reaches other processes; the
relay's sends go through ``motia_django.layers.submit``.
"""

from __future__ import annotations

import logging

from motia_django.layers import submit
from motia_django.realtime.hub import hub
from motia_django.realtime.relay import make_relay
from motia_django.stream.changes import Change, stream_changed

__all__ = ["connect", "disconnect"]

logger = logging.getLogger("motia_django.broadcast")

_DISPATCH_UID = "motia_django.realtime.broadcast"


def _on_stream_changed(sender: object, change: Change, **kwargs: object) -> None:
    hub.publish(change)


def connect() -> None:
    """Start broadcasting (called from ``AppConfig.ready()``; idempotent)."""
    hub.relay = make_relay(hub, submit)
    stream_changed.connect(_on_stream_changed, dispatch_uid=_DISPATCH_UID)


def disconnect() -> None:
    stream_changed.disconnect(dispatch_uid=_DISPATCH_UID)
    hub.relay = None
