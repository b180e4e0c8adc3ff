"""Settings of live test servers: the example project plus test-only endpoints (tests/live_urls.py)."""

from example_project.settings import *  # noqa: F403

ROOT_URLCONF = "tests.live_urls"
DEBUG = False
