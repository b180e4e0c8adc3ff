"""Settings of the example project: embedded by default, scaled out by environment variables.

- ``DATABASE_URL``: default a SQLite file beside manage.py; ``postgres://...`` for PostgreSQL.
- ``REDIS_URL``: unset means the in-memory channel layer (one process); set, channels-redis is used so that
  several Daphne processes, workers and shells share broadcasts and events.
- ``MOTIA_EVENT_LEASE_SECONDS``: ``MOTIA["EVENT_LEASE_SECONDS"]`` (unset: motia_django's default).
- ``METRICS_TOKEN``: ``MOTIA["METRICS_TOKEN"]``, the bearer token of ``/metrics`` when ``DEBUG`` is off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

PROJECT_DIR = Path(__file__).resolve().parent
BASE_DIR = PROJECT_DIR  # the steps folder is example_project/steps

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:  # a key everyone can read signs everyone's sessions: refuse to start
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0")
    SECRET_KEY = "django-insecure-example-only-change-me"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "motia_django",
    "example_project.todo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
ASGI_APPLICATION = "example_project.asgi.application"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_config(url: str | None) -> dict[str, Any]:
    """A database dict from a URL; SQLite gets WAL and IMMEDIATE transactions (no 'database is locked')."""
    default = f"sqlite:///{PROJECT_DIR.parent / 'db.sqlite3'}"
    # Persistent connections, checked before reuse: a database restart costs a reconnect, not a failed call
    config: dict[str, Any] = dict(dj_database_url.parse(url or default, conn_max_age=600, conn_health_checks=True))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        },
    }
else:
    # One process: changes go straight to its sockets, the layer only carries wake-ups of the in-process event
    # runner. (A deep queue all the same: Channels' default capacity of 100 drops messages silently.)
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10_000}},
    }

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = PROJECT_DIR.parent / "staticfiles"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The JSON rule and error answers of the API steps for the project's own API too (/todos/): 400 for a body
    # nested too deep or holding lone surrogates, 413 for one too large, 503 while the database is down.
    "DEFAULT_PARSER_CLASSES": ["motia_django.rest.JSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "EXCEPTION_HANDLER": "motia_django.rest.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}

# Streams may also be defined here instead of in steps/*_stream.py:
# STREAMS = {"presence": {"schema": {"type": "object"}}}
STREAMS: dict = {}

MOTIA: dict = {}
# MOTIA_EVENT_LEASE_SECONDS: how long a killed worker's running events wait before they run again (default 30).
if os.environ.get("MOTIA_EVENT_LEASE_SECONDS"):
    MOTIA["EVENT_LEASE_SECONDS"] = float(os.environ["MOTIA_EVENT_LEASE_SECONDS"])
# METRICS_TOKEN: scrapers send it as "Authorization: Bearer <token>" (unset: /metrics is for staff, or DEBUG).
if os.environ.get("METRICS_TOKEN"):
    MOTIA["METRICS_TOKEN"] = os.environ["METRICS_TOKEN"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "motia_django": {
            "handlers": ["console"], "level": os.environ.get("MOTIA_LOG_LEVEL", "INFO"), "propagate": False,
        },
    },
}
