"""Every system check of motia_django, registered here (``AppConfig.ready()`` imports this module).

The registries keep the problems found while building streams and steps (``registry.errors``,
``step_registry.errors``); the settings are checked here directly. ``manage.py check`` and the server's
start-up show them all, each with an id, the file or setting, and a hint.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.db import connections

from motia_django import compat
from motia_django.conf import DEFAULTS, motia_settings
from motia_django.steps.registry import step_registry
from motia_django.stream.registry import registry

__all__ = ["check_settings", "check_steps", "check_streams"]


@checks.register("motia_django")
def check_streams(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not registry.loaded:
        registry.load()
    errors = list(registry.errors)
    if motia_settings.DEFAULT_ACCESS == "allow":
        for stream in registry:
            if stream.backend.kind == "model" and stream.can_access is None:
                errors.append(checks.Warning(
                    f"{stream.origin}: the model-backed stream {stream.name!r} has no canAccess and DEFAULT_ACCESS is "
                    "'allow': any client can join any group and read every row of the model's table",
                    hint="Give the stream a canAccess(subscription, auth_context), or set "
                         "MOTIA['DEFAULT_ACCESS'] = 'authenticated'.", id="motia_django.W022"))
    return errors


@checks.register("motia_django")
def check_steps(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not step_registry.loaded:
        step_registry.load()
    errors = list(step_registry.errors)
    for step in step_registry.event_steps:
        for trigger in step.triggers:
            if trigger.stream not in registry:
                errors.append(checks.Error(
                    f"{step.origin}: step {step.name!r} has a stream trigger on {trigger.stream!r}, which is not a "
                    "registered stream", hint="Name a stream defined in a *_stream.py module or STREAMS.",
                    id="motia_django.E118"))
    return errors


@checks.register("motia_django")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    unknown = sorted(set(motia_settings.user_settings) - set(DEFAULTS))
    if unknown:
        errors.append(checks.Error(
            f"settings.MOTIA has unknown keys: {', '.join(unknown)}",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.", id="motia_django.E010",
        ))
    if motia_settings.DEFAULT_ACCESS not in ("allow", "authenticated"):
        errors.append(checks.Error(
            f"settings.MOTIA['DEFAULT_ACCESS'] is {motia_settings.DEFAULT_ACCESS!r}",
            hint='Use "allow" (anyone may join, as in Motia) or "authenticated".', id="motia_django.E011",
        ))
    errors.extend(_check_limits())
    try:
        motia_settings.AUTHENTICATE  # noqa: B018 - importing it is the check
    except ImportError as exc:
        errors.append(checks.Error(f"settings.MOTIA['AUTHENTICATE'] cannot be imported: {exc}",
                                   hint="Give the dotted path of authenticate(token, scope).",
                                   id="motia_django.E013"))
    token = motia_settings.METRICS_TOKEN
    if token is not None and (not isinstance(token, str) or not token.strip()):
        got = "a blank string" if isinstance(token, str) else type(token).__name__  # never the token itself
        errors.append(checks.Error(f"settings.MOTIA['METRICS_TOKEN'] must be a non-empty string or None, got {got}",
                                   hint='Read it from the environment: os.environ.get("METRICS_TOKEN") or None '
                                        "(None lets only staff users read /metrics).", id="motia_django.E017"))
    errors.extend(_check_layer_capacity())
    errors.extend(_check_health_checks())
    errors.extend(_check_extras())
    for folder in motia_settings.STEPS_DIRS:
        if not folder.is_dir():
            errors.append(checks.Warning(f"steps folder {folder} does not exist",
                                         hint="Create it or set MOTIA['STEPS_DIRS'].", id="motia_django.W001"))
    return errors


POSITIVE_INTEGERS = ("MAX_FRAME_BYTES", "MAX_SUBSCRIPTIONS", "SYNC_LIMIT", "SEND_QUEUE_LIMIT", "EVENT_MAX_ATTEMPTS",
                     "WORKER_CONCURRENCY", "JOIN_BURST", "SYNC_MAX_BYTES", "SYNC_PAGE_BYTES", "SEND_QUEUE_BYTES",
                     "MAX_ITEM_BYTES")
POSITIVE_NUMBERS = ("EVENT_LEASE_SECONDS", "WORKER_POLL_SECONDS", "HOUSEKEEPING_SECONDS", "EVENT_TIMEOUT_SECONDS",
                    "JOIN_RATE")
OPTIONAL_LIMITS = {"MAX_CONNECTIONS_PER_USER": "None: no cap.", "MAX_CONNECTIONS_PER_IP": "None: no cap.",
                   "GC_THRESHOLD": "None: Python's own collector settings. Default: 10000."}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_limits() -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for key in POSITIVE_INTEGERS:
        value = getattr(motia_settings, key)
        if not _positive_int(value):
            errors.append(checks.Error(f"settings.MOTIA[{key!r}] must be a positive integer, got {value!r}",
                                       hint=f"Default: {DEFAULTS[key]}.", id="motia_django.E012"))
    for key in POSITIVE_NUMBERS:
        value = getattr(motia_settings, key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            errors.append(checks.Error(f"settings.MOTIA[{key!r}] must be a positive number, got {value!r}",
                                       hint=f"Default: {DEFAULTS[key]}.", id="motia_django.E014"))
    for key, hint in OPTIONAL_LIMITS.items():
        value = getattr(motia_settings, key)
        if value is not None and not _positive_int(value):
            errors.append(checks.Error(f"settings.MOTIA[{key!r}] must be None or a positive integer, got {value!r}",
                                       hint=hint, id="motia_django.E020"))
    queue, sync = motia_settings.SEND_QUEUE_BYTES, motia_settings.SYNC_MAX_BYTES
    if _positive_int(queue) and _positive_int(sync) and queue < sync:
        errors.append(checks.Error(
            f"settings.MOTIA['SEND_QUEUE_BYTES'] ({queue}) is below SYNC_MAX_BYTES ({sync}): a client joining a "
            "large group would be cut off by its own sync", hint="Keep SEND_QUEUE_BYTES at least SYNC_MAX_BYTES.",
            id="motia_django.E021"))
    exclude = motia_settings.API_MIDDLEWARE_EXCLUDE
    if not isinstance(exclude, list | tuple) or not all(isinstance(path, str) for path in exclude):
        errors.append(checks.Error("settings.MOTIA['API_MIDDLEWARE_EXCLUDE'] must be a list of dotted paths",
                                   hint='e.g. ["django.middleware.common.CommonMiddleware"]', id="motia_django.E022"))
    return errors


#: Layers whose ``group_send`` silently skips a channel that already holds ``capacity`` messages, and that carry
#: changes between processes (the in-memory layer carries none: a process fans out its own changes itself).
_DROPPING_LAYERS = ("channels_redis.core.RedisChannelLayer",)
MIN_LAYER_CAPACITY = 1000


def _check_layer_capacity() -> list[checks.CheckMessage]:
    """A relay channel (it receives every change of the groups its process serves) with a small capacity drops
    changes under load: each drop is then repaired by a resync of the group, which costs far more."""
    alias = motia_settings.CHANNEL_LAYER
    config = (getattr(settings, "CHANNEL_LAYERS", None) or {}).get(alias)
    if not config or config.get("BACKEND") not in _DROPPING_LAYERS:
        return []
    capacity = (config.get("CONFIG") or {}).get("capacity", 100)
    if capacity >= MIN_LAYER_CAPACITY:
        return []
    return [checks.Warning(
        f"CHANNEL_LAYERS[{alias!r}] ({config['BACKEND']}) has capacity {capacity}: its group_send silently "
        "drops messages for a channel that has that many queued, so under load a server process misses changes "
        "and must resync whole groups",
        hint=f'Set "CONFIG": {{"capacity": 10000}} (at least {MIN_LAYER_CAPACITY}), or use '
             "channels_redis.pubsub.RedisPubSubChannelLayer. Per-socket memory stays bounded by "
             "MOTIA['SEND_QUEUE_LIMIT'].",
        id="motia_django.W020",
    )]


def _check_health_checks() -> list[checks.CheckMessage]:
    """motia_django's threads (the write path's, a runner's handler threads) live as long as the process and keep
    their connections; without health checks, a connection the database dropped fails one call in each."""
    found: list[checks.CheckMessage] = []
    for alias in connections:
        config = connections.settings[alias]
        if config.get("ENGINE") == "django.db.backends.sqlite3" or config.get("CONN_HEALTH_CHECKS"):
            continue
        found.append(checks.Warning(
            f"DATABASES[{alias!r}] has no CONN_HEALTH_CHECKS: after a database restart or an idle timeout, each of "
            "motia_django's long-lived threads fails one call (a stream write, an event) on its dropped connection",
            hint='Set "CONN_HEALTH_CHECKS": True (with "CONN_MAX_AGE": 600, as the example project does).',
            id="motia_django.W021",
        ))
    return found


def _check_extras() -> list[checks.CheckMessage]:
    """A feature the project turned on whose library (an extra of the package) is not installed."""
    found: list[checks.CheckMessage] = []
    if compat.prometheus_client is None and _metrics_mounted():
        found.append(checks.Warning(
            f"motia_django.metrics.urls is mounted, but {compat.missing_extra('/metrics', 'metrics')}; until "
            "then it answers 501 and records nothing",
            hint='pip install "motia-django[metrics]" (prometheus-client), or remove the include from your URLconf.',
            id="motia_django.W023"))
    if not compat.has_drf_spectacular and "drf_spectacular.openapi.AutoSchema" in str(
            (getattr(settings, "REST_FRAMEWORK", None) or {}).get("DEFAULT_SCHEMA_CLASS", "")):
        found.append(checks.Warning(
            "REST_FRAMEWORK['DEFAULT_SCHEMA_CLASS'] is drf-spectacular's AutoSchema, but "
            f"{compat.missing_extra('the OpenAPI document', 'openapi')}: any schema of your views fails to build",
            hint='pip install "motia-django[openapi]" (drf-spectacular), or remove DEFAULT_SCHEMA_CLASS.',
            id="motia_django.W024"))
    return found


# --- deployment (``manage.py check --deploy``) ------------------------------------------------------------------


@checks.register("motia_django", deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings that are fine on a laptop and unsafe, or wrong, in production."""
    found: list[checks.CheckMessage] = []
    if not registry.loaded:
        registry.load()
    open_streams = [s.name for s in registry if s.can_access is None]
    if motia_settings.DEFAULT_ACCESS == "allow" and open_streams:
        found.append(checks.Warning(
            f"MOTIA['DEFAULT_ACCESS'] is 'allow': anyone who reaches the server may join any group of "
            f"{', '.join(sorted(open_streams)[:10])} (streams without canAccess)",
            hint="Give those streams a canAccess, or set MOTIA['DEFAULT_ACCESS'] = 'authenticated'.",
            id="motia_django.W030"))
    if motia_settings.METRICS_TOKEN is None and _metrics_mounted():
        found.append(checks.Warning(
            "/metrics is mounted and MOTIA['METRICS_TOKEN'] is not set: only staff sessions can read it, so a "
            "Prometheus scraper cannot", hint="Set MOTIA['METRICS_TOKEN'] from the environment.",
            id="motia_django.W031"))
    layer = (getattr(settings, "CHANNEL_LAYERS", None) or {}).get(motia_settings.CHANNEL_LAYER) or {}
    if layer.get("BACKEND", "").endswith("InMemoryChannelLayer"):
        found.append(checks.Warning(
            "The channel layer is the in-memory one: that is right for one server process only. With several, "
            "each sees only its own changes, and each runs the events itself",
            hint="Use channels-redis (channels_redis.pubsub.RedisPubSubChannelLayer) and manage.py motia_worker "
                 "when you run more than one process.", id="motia_django.W032"))
    return found


def _metrics_mounted() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("motia-metrics")
    except NoReverseMatch:
        return False
    return True
