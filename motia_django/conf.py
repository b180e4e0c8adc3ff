"""One settings object for motia_django, read lazily so the package can be imported before Django is set up.

Everything lives in the ``MOTIA`` dict of the project's settings, except ``STREAMS`` (name -> definition),
which is a top-level setting because it is what users write most. ``motia_settings.reload()`` runs on Django's
``setting_changed`` signal (the one receiver in ``apps.py``), so ``override_settings`` works in tests, as
DRF's ``api_settings`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

__all__ = ["DEFAULTS", "MotiaSettings", "motia_settings"]

DEFAULTS: dict[str, Any] = {
    # Folders searched for ``*_stream.py`` and ``*_step.py`` modules. None means ``[BASE_DIR / "steps"]``.
    "STEPS_DIRS": None,
    # Channel layer alias used to broadcast stream changes to WebSocket consumers.
    "CHANNEL_LAYER": "default",
    # WebSocket limits (docs/security.md, "Limits"): a client frame, subscriptions per socket, joins per second.
    "MAX_FRAME_BYTES": 64 * 1024,
    "MAX_SUBSCRIPTIONS": 256,
    "JOIN_RATE": 20.0,  # joins a socket may make per second, on average (a token bucket)...
    "JOIN_BURST": 50,  # ... and at once
    # Optional caps on open stream sockets per authenticated user and per client IP address, per process.
    "MAX_CONNECTIONS_PER_USER": None,
    "MAX_CONNECTIONS_PER_IP": None,
    # A group join syncs at most this many of the group's newest items (a stream's "syncLimit" overrides it),
    # and at most this many bytes of them; a sync is sent in frames of at most SYNC_PAGE_BYTES.
    "SYNC_LIMIT": 1000,
    "SYNC_MAX_BYTES": 2 * 1024 * 1024,
    "SYNC_PAGE_BYTES": 512 * 1024,
    # What one socket may have queued for it, in frames and in bytes, before it is cut off (close code 4013).
    "SEND_QUEUE_LIMIT": 1000,
    "SEND_QUEUE_BYTES": 4 * 1024 * 1024,
    # The largest item (or ephemeral event) a stream accepts, as JSON.
    "MAX_ITEM_BYTES": 256 * 1024,
    # Dotted path (or callable) ``authenticate(token, scope) -> auth context | None``; raising refuses.
    "AUTHENTICATE": None,
    # Join policy for streams without ``canAccess``: "allow" (as Motia) or "authenticated".
    "DEFAULT_ACCESS": "allow",
    # Event steps: channel the worker listens on, retry policy, and where events run.
    "WORKER_CHANNEL": "motia-events",
    "WORKER_LAYER": None,  # None: the CHANNEL_LAYER alias
    "EVENT_MAX_ATTEMPTS": 5,
    "EVENT_RETRY_BACKOFF": 1.0,  # seconds; doubles on each attempt
    "EVENT_RETRY_BACKOFF_MAX": 300.0,
    # A running event whose worker stopped renewing its lease (renewed every third of it while the handler runs)
    # is taken up again after this. It bounds how late a SIGKILLed worker's events run again; a worker or server
    # that stops normally gives its events back at once. Too short, and a worker whose loop stalls that long
    # loses events it is still running to another worker (which runs them again). 30 s, as BullMQ's lock.
    "EVENT_LEASE_SECONDS": 30.0,
    "EVENTS_IN_PROCESS": None,  # None: True when the channel layer is the in-memory one
    "WORKER_CONCURRENCY": 10,  # events one worker process runs at once
    "WORKER_POLL_SECONDS": 5.0,  # how often a worker looks for due retries and events no wake-up announced
    # How often a worker enforces retention (a stream's ttl, maxItemsPerGroup) and removes the presence of
    # servers that died.
    "HOUSEKEEPING_SECONDS": 60.0,
    # An event or cron step's attempt fails (and is retried by the usual policy) after this many seconds; a step
    # sets its own with "timeout" in its config.
    "EVENT_TIMEOUT_SECONDS": 300.0,
    # API steps: the middleware they run through on motia_django's handler (None: the project's MIDDLEWARE), less
    # what API_MIDDLEWARE_EXCLUDE opts out.
    "API_MIDDLEWARE": None,
    "API_MIDDLEWARE_EXCLUDE": [],
    # API steps: Access-Control-Allow-Origin sent on every step response and preflight ("*" as Motia does);
    # None sends no CORS headers (use django-cors-headers for per-origin rules).
    "API_CORS_ORIGIN": "*",
    # Servers and workers (get_asgi_application(), motia_worker): Python's cyclic garbage collector runs its
    # youngest generation after this many new objects (Python's default is 700), and what was loaded at start is
    # frozen out of its scans. None leaves the collector as Python sets it. docs/performance.md has the figures.
    "GC_THRESHOLD": 10_000,
    # Workbench pages: None means on when DEBUG.
    "WORKBENCH": None,
    # The Prometheus endpoint (motia_django.metrics.urls) outside DEBUG: a scraper sends
    # ``Authorization: Bearer <token>`` (compared in constant time); active staff users' sessions are let in too.
    # None: staff only. In DEBUG the endpoint is open.
    "METRICS_TOKEN": None,
}

# Settings that hold dotted paths to import on access.
IMPORT_STRINGS = {"AUTHENTICATE"}


class MotiaSettings:
    """Attribute access to ``settings.MOTIA`` with defaults, imported dotted paths, and a cache: a value read once
    is kept as an instance attribute, as DRF's ``api_settings`` keeps it, so the hot paths that read a setting
    per frame or per request pay a plain attribute lookup, not ``__getattr__``."""

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "MOTIA", None) or {}
        if not isinstance(value, dict):
            raise TypeError("settings.MOTIA must be a dict")
        return value

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        if attr == "STREAMS":
            value: Any = getattr(settings, "STREAMS", None) or {}
        elif attr in DEFAULTS:
            value = self.user_settings.get(attr, DEFAULTS[attr])
        else:
            raise AttributeError(f"Invalid motia_django setting: {attr!r}")
        if attr == "STEPS_DIRS":
            value = self._steps_dirs(value)
        elif attr in IMPORT_STRINGS and isinstance(value, str):
            value = import_string(value)
        self.__dict__[attr] = value
        return value

    @staticmethod
    def _steps_dirs(value: Any) -> list[Path]:
        if value is None:
            base = getattr(settings, "BASE_DIR", None)
            return [Path(base) / "steps"] if base is not None else []
        if isinstance(value, str | Path):
            value = [value]
        return [Path(v) for v in value]

    def reload(self) -> None:
        self.__dict__.clear()


motia_settings = MotiaSettings()

