"""Settings of the live servers of the hostile-HTTP tests: the live settings plus the session-only steps of
tests/steps_fixtures/hostile, small body and item limits, HSTS behind a TLS-terminating proxy, a refused user
agent, and (through the environment) an HTTPS redirect and API_MIDDLEWARE_EXCLUDE."""

import os
import re
from pathlib import Path

from tests.support.live_settings import *  # noqa: F403
from tests.support.live_settings import BASE_DIR, MOTIA

FIXTURES = Path(__file__).resolve().parents[1] / "steps_fixtures"

#: Bodies larger than this are a 413 (64 KiB, small enough to send over and over).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MOTIA_TEST_UPLOAD_LIMIT", str(64 * 1024)))

# The request is secure when the (trusted) proxy says so; secure responses carry HSTS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 3600
SECURE_SSL_REDIRECT = os.environ.get("MOTIA_TEST_SSL_REDIRECT") == "1"

# CommonMiddleware refuses these user agents (403): shows whether it ran.
DISALLOWED_USER_AGENTS = [re.compile(r"HostileBot")]

MOTIA = {
    **MOTIA,
    "STEPS_DIRS": [Path(BASE_DIR) / "steps", FIXTURES / "hostile"],
    "MAX_ITEM_BYTES": int(os.environ.get("MOTIA_TEST_MAX_ITEM_BYTES", "4096")),
    # MOTIA_TEST_API_MIDDLEWARE_EXCLUDE: dotted paths, comma-separated.
    "API_MIDDLEWARE_EXCLUDE": [p for p in os.environ.get("MOTIA_TEST_API_MIDDLEWARE_EXCLUDE", "").split(",") if p],
}
