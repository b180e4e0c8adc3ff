"""Other libraries' internals that motia_django relies on, each behind one function in this one module.

None of these is a public API of its library. Each function names the version it was checked against, and
``tests/test_compat.py`` fails when one disappears, so an upgrade says where to look instead of failing somewhere
far away. Everything else in the package uses only public APIs.

It also imports the optional libraries, one per extra of ``pyproject.toml``: each name below is the module, or
None when its extra is not installed. A feature that needs one says which extra is missing
(``missing_extra``): its module raises that ImportError when imported, or a system check names it.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync

__all__ = [  # the functions; the optional modules and EXTRAS below are imported by name
    "at_interpreter_shutdown", "caller_loop", "daphne_protocol", "histogram_values", "installed", "missing_extra",
    "record_caller_loop", "require_extra", "response_handler", "sync_caller_waiting", "twisted_consumer",
]


# --- optional libraries, one extra each (pyproject.toml's optional-dependencies) -------------------------------

try:
    import prometheus_client
except ImportError:  # the 'metrics' extra: without it, metrics are not recorded and /metrics is not served
    prometheus_client = None  # type: ignore[assignment]

def installed(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it (a module hidden with ``sys.modules[name] = None``
    counts as missing)."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


#: The 'openapi' extra: without it, there is no OpenAPI document of the API steps. Found, not imported:
#: drf_spectacular imports Django, and the client must not (its package imports this module).
has_drf_spectacular = installed("drf_spectacular")

try:
    import websockets
except ImportError:  # the 'client' extra: the Python stream client (motia_django.client, manage.py streams tail)
    websockets = None  # type: ignore[assignment]

try:
    import croniter
except ImportError:  # the 'cron' extra: cron steps
    croniter = None  # type: ignore[assignment]

try:
    from opentelemetry import trace as otel_trace
except ImportError:  # the 'otel' extra: without it, no spans
    otel_trace = None  # type: ignore[assignment]

#: Each extra, and the module that says it is installed.
EXTRAS = {
    "metrics": "prometheus_client",
    "openapi": "drf_spectacular",
    "client": "websockets",
    "cron": "croniter",
    "otel": "opentelemetry.trace",
    "postgres": "psycopg",
}


def missing_extra(feature: str, extra: str) -> ImportError:
    """The error a feature raises (or a check shows) when its extra is not installed."""
    return ImportError(f'{feature} needs the {extra!r} extra: pip install "motia-django[{extra}]"')


def require_extra(extra: str, feature: str) -> None:
    """Raise ``missing_extra(feature, extra)`` unless the extra's module can be imported (now, so a test can
    hide it with ``sys.modules[name] = None``)."""
    try:
        importlib.import_module(EXTRAS[extra])
    except ImportError as exc:
        raise missing_extra(feature, extra) from exc


# --- asgiref (checked against 3.13) ---------------------------------------------------------------------------


def record_caller_loop(loop: asyncio.AbstractEventLoop) -> None:
    """In a thread called from ``loop``: record it as ``sync_to_async`` does (``SyncToAsync.threadlocal``), so
    code in the thread can find the loop it serves (``caller_loop``)."""
    SyncToAsync.threadlocal.main_event_loop = loop
    SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()


def caller_loop() -> asyncio.AbstractEventLoop | None:
    """The loop whose ``sync_to_async`` (or ``motia_django.bridge``) call runs in this thread, if any."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop


def sync_caller_waiting() -> bool:
    """True under ``async_to_sync``: a sync caller (its thread, maybe its transaction) waits for this code
    (``AsyncToSync.executors.current``)."""
    return getattr(AsyncToSync.executors, "current", None) is not None


# --- CPython (checked against 3.11 to 3.14) -------------------------------------------------------------------


def at_interpreter_shutdown(callback: Callable[[], None]) -> None:
    """Run ``callback`` when the interpreter exits normally, before ``concurrent.futures`` stops accepting work
    (``threading._register_atexit``); plain ``atexit`` where that hook does not exist."""
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(callback)
            return
    except RuntimeError:  # the interpreter is already shutting down
        return
    atexit.register(callback)


# --- Django (checked against 5.2 and 6.0) ---------------------------------------------------------------------


def response_handler(handler: Any) -> Callable[..., Any]:
    """The innermost callable of a handler's async middleware chain: resolve, view middleware, the view
    (``BaseHandler._get_response_async``)."""
    found: Callable[..., Any] = handler._get_response_async
    return found


# --- prometheus-client (checked against 0.20 to 0.23) ---------------------------------------------------------


def histogram_values(histogram: Any) -> tuple[list[Any], Any] | None:
    """A histogram's bucket counters and its sum (``_buckets`` and ``_sum``, unchanged since its first release),
    to add many observations at once; None if they are not there."""
    buckets, amount = getattr(histogram, "_buckets", None), getattr(histogram, "_sum", None)
    return None if buckets is None or amount is None else (list(buckets), amount)


# --- Daphne 4.2, Twisted 26 and Channels 4.3 ------------------------------------------------------------------


def daphne_protocol(send: Any) -> Any:
    """Daphne's protocol object behind an ASGI ``send`` (``partial(server.handle_reply, protocol)``), or None.

    Daphne never blocks ``send``: frames pile up in Twisted's write buffer. A push producer registered with
    the socket's consumer (``twisted_consumer``) is Twisted's public way to hear when that buffer is full.
    Channels' session middleware wraps ``send`` (``InstanceSessionWrapper.real_send``); it is looked through.
    """
    for _ in range(8):
        wrapped = getattr(getattr(send, "__self__", None), "real_send", None)
        if wrapped is None:
            break
        send = wrapped
    if not isinstance(send, functools.partial) or len(send.args) != 1:
        return None
    owner = getattr(send.func, "__self__", None)
    if not type(owner).__module__.startswith("daphne."):
        return None
    protocol = send.args[0]
    return protocol if hasattr(protocol, "registerProducer") else None


def twisted_consumer(protocol: Any) -> Any:
    """Where to register a push producer for Daphne's socket.

    The TCP transport's producer is Twisted web's ``HTTPChannel`` (the upgraded request's); as an
    ``IConsumer`` it passes the transport's pause/resume on to the producer registered with it.
    """
    transport = getattr(protocol, "transport", None)
    for _ in range(4):
        if transport is None:
            return None
        channel = getattr(transport, "producer", None)
        if channel is not None and hasattr(channel, "registerProducer") and hasattr(channel, "pauseProducing"):
            return channel
        transport = getattr(transport, "transport", None)
    return None
