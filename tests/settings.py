"""Settings for the test suite: the example project's settings with test streams added.

The database comes from ``DATABASE_URL`` (SQLite by default; the test command runs the suite a second time with
a PostgreSQL URL). Tests that need a live server start one with ``tests.support.server.LiveServer``.
"""

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import database_config

DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": None}  # in-memory test database

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10_000}}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
