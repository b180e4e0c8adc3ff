"""Settings of live test servers: the example project plus test-only endpoints (tests/live_urls.py) and the
auth hook and access-checked streams of tests/live_access.py."""

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import MOTIA, STREAMS

ROOT_URLCONF = "tests.support.live_urls"
DEBUG = False

MOTIA = {
    **MOTIA,
    "AUTHENTICATE": "tests.support.live_access.authenticate",
    "SEND_QUEUE_LIMIT": int(os.environ.get("MOTIA_TEST_SEND_QUEUE_LIMIT", "1000")),
    "METRICS_TOKEN": os.environ.get("MOTIA_TEST_METRICS_TOKEN") or None,
}
STREAMS = {
    **STREAMS,
    "private": {"schema": {"type": "object"}, "canAccess": "tests.support.live_access.can_access"},
    "privateAsync": {"schema": {"type": "object"}, "canAccess": "tests.support.live_access.acan_access"},
    "broken": {"schema": {"type": "object"}, "canAccess": "tests.support.live_access.broken_access"},
}
