"""Settings for the test suite: the example project's settings with test streams added.

The database comes from ``DATABASE_URL`` (SQLite by default; the test command runs the suite a second time with
a PostgreSQL URL). Tests that need a live server start one with ``tests.support.server.LiveServer``.
"""

import os

# The example's chatPresence stream: no presence upkeep (a write every TTL/3) in the middle of other tests, whose
# in-memory SQLite database locks whole tables; tests/test_presence.py sets its own.
os.environ.setdefault("PRESENCE_TTL_S", "3600")

from example_project.settings import *  # noqa: F403
from example_project.settings import database_config

DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": None}  # in-memory test database

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10_000}}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

# Events run when a test says so (motia_django.testing.run_pending_events), not on a runner thread of the test
# process that would compete for the in-memory SQLite database (tests that want the runner start their own).
MOTIA = {**MOTIA, "EVENTS_IN_PROCESS": False}  # noqa: F405
