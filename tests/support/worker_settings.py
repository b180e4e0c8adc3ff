"""Settings of the scaled-out test processes (Daphne and ``motia_worker`` on Redis and PostgreSQL): the live
settings plus test event steps, and timings made short through the environment."""

import os
from pathlib import Path

from tests.support.live_settings import *  # noqa: F403
from tests.support.live_settings import BASE_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "steps_fixtures"

MOTIA = {
    # MOTIA_TEST_EXTRA_STEPS: more fixture folders (names under steps_fixtures/, comma-separated), e.g. "cron".
    "STEPS_DIRS": [Path(BASE_DIR) / "steps", FIXTURES / "worker",
                   *(FIXTURES / name for name in os.environ.get("MOTIA_TEST_EXTRA_STEPS", "").split(",") if name)],
    "WORKER_CHANNEL": os.environ.get("MOTIA_TEST_WORKER_CHANNEL", "motia-events"),
    "EVENT_LEASE_SECONDS": float(os.environ.get("MOTIA_TEST_LEASE_SECONDS", "300")),
    "WORKER_POLL_SECONDS": float(os.environ.get("MOTIA_TEST_POLL_SECONDS", "5")),
    "EVENT_MAX_ATTEMPTS": 2,
    "EVENT_RETRY_BACKOFF": 0.1,
}
