"""Settings of the live servers of tests/scenarios/test_hostile_clients.py: the live settings plus a bulk stream (any
object), a presence stream that tracks the access-checked ``private`` stream, a test-only bulk write
(tests/support/hostile_clients_urls.py), and, through the environment, the join rate and the connection caps."""

import os

from tests.support.live_settings import *  # noqa: F403
from tests.support.live_settings import MOTIA, STREAMS

ROOT_URLCONF = "tests.support.hostile_clients_urls"


def _optional(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


MOTIA = {
    **MOTIA,
    "JOIN_BURST": int(os.environ.get("MOTIA_TEST_JOIN_BURST", "50")),
    "JOIN_RATE": float(os.environ.get("MOTIA_TEST_JOIN_RATE", "20")),
    "MAX_CONNECTIONS_PER_USER": _optional("MOTIA_TEST_MAX_CONNECTIONS_PER_USER"),
    "MAX_CONNECTIONS_PER_IP": _optional("MOTIA_TEST_MAX_CONNECTIONS_PER_IP"),
}
STREAMS = {
    **STREAMS,
    "bulk": {"schema": {"type": "object"}},
    # Who is in a private room: as private as the room (tests.support.live_access.can_access).
    "privatePresence": {"schema": {"type": "object"}, "presence": {"tracks": "private", "ttl": 3600}},
}
