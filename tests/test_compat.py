"""motia_django.compat: each private attribute of another library it relies on is still there and still works."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync, async_to_sync, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpResponse
from django.test import AsyncRequestFactory
from django.urls import path
from prometheus_client import CollectorRegistry, Histogram

from motia_django import compat, metrics

# --- asgiref -------------------------------------------------------------------------------------------------


def test_asgiref_keeps_the_threadlocal_with_its_loop_attributes():
    """asgiref 3.13: ``SyncToAsync.threadlocal`` exists (a ``threading.local``)."""
    assert isinstance(SyncToAsync.threadlocal, threading.local)


async def test_caller_loop_is_the_running_loop_inside_sync_to_async():
    """asgiref 3.13: ``sync_to_async`` records ``main_event_loop`` / ``main_event_loop_pid`` in its thread."""
    loop = asyncio.get_running_loop()
    assert await sync_to_async(compat.caller_loop)() is loop
    assert await sync_to_async(compat.caller_loop, thread_sensitive=False)() is loop


async def test_async_to_sync_honours_a_recorded_caller_loop():
    """asgiref 3.13: ``async_to_sync`` in a thread whose ``main_event_loop`` is recorded runs the coroutine on
    that loop (the attributes ``record_caller_loop`` writes are the ones asgiref reads)."""
    loop = asyncio.get_running_loop()

    async def where() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def in_thread() -> tuple[asyncio.AbstractEventLoop | None, asyncio.AbstractEventLoop]:
        compat.record_caller_loop(loop)
        return compat.caller_loop(), async_to_sync(where)()

    with ThreadPoolExecutor(1) as own:  # a thread of its own: its threadlocal dies with it
        recorded, ran_on = await loop.run_in_executor(own, in_thread)
    assert recorded is loop and ran_on is loop


def test_caller_loop_is_none_without_a_caller_or_from_another_process():
    """asgiref 3.13: ``main_event_loop_pid`` guards against a loop recorded before a fork."""

    def fresh() -> asyncio.AbstractEventLoop | None:
        return compat.caller_loop()

    def forked() -> asyncio.AbstractEventLoop | None:
        loop = asyncio.new_event_loop()
        try:
            compat.record_caller_loop(loop)
            SyncToAsync.threadlocal.main_event_loop_pid = -1  # as seen from a forked child
            return compat.caller_loop()
        finally:
            loop.close()

    with ThreadPoolExecutor(1) as own:
        assert own.submit(fresh).result() is None
    with ThreadPoolExecutor(1) as own:
        assert own.submit(forked).result() is None


def test_asgiref_keeps_the_executors_local():
    """asgiref 3.13: ``AsyncToSync.executors`` exists and holds ``current`` while a sync caller waits."""
    assert hasattr(AsyncToSync, "executors")

    async def outer() -> bool:
        return await sync_to_async(lambda: getattr(AsyncToSync.executors, "current", None) is not None)()

    assert async_to_sync(outer)() is True


def test_sync_caller_waiting_under_async_to_sync_then_sync_to_async():
    """asgiref 3.13: ``AsyncToSync.executors.current`` is set for code a sync caller waits for."""

    async def outer() -> bool:
        return await sync_to_async(compat.sync_caller_waiting)()

    assert async_to_sync(outer)() is True
    assert compat.sync_caller_waiting() is False  # plain sync code, after the call too


async def test_sync_caller_waiting_is_false_under_plain_sync_to_async():
    """asgiref 3.13: without ``async_to_sync`` above, ``AsyncToSync.executors.current`` is unset."""
    assert compat.sync_caller_waiting() is False
    assert await sync_to_async(compat.sync_caller_waiting)() is False


# --- CPython ---------------------------------------------------------------------------------------------------


def test_threading_register_atexit_exists():
    """CPython 3.11 to 3.14: ``threading._register_atexit`` exists."""
    assert callable(getattr(threading, "_register_atexit", None))


def test_at_interpreter_shutdown_runs_before_thread_pools_stop():
    """CPython 3.11 to 3.14: a callback registered with ``threading._register_atexit`` after
    ``concurrent.futures`` was imported runs at exit while a pool still takes work (plain ``atexit`` runs too
    late: "cannot schedule new futures after interpreter shutdown")."""
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from motia_django.compat import at_interpreter_shutdown\n"
        "pool = ThreadPoolExecutor(1)\n"
        "pool.submit(int).result()\n"
        "at_interpreter_shutdown(lambda: print('ran', pool.submit(lambda: 41 + 1).result(), flush=True))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ran 42"


def test_at_interpreter_shutdown_uses_the_hook_then_atexit(monkeypatch):
    """CPython 3.11 to 3.14: ``threading._register_atexit`` first, plain ``atexit`` where it is missing, nothing
    once the interpreter is shutting down."""
    hooked, fallback = [], []
    monkeypatch.setattr(threading, "_register_atexit", hooked.append)
    monkeypatch.setattr(compat.atexit, "register", fallback.append)

    def callback() -> None:
        pass

    compat.at_interpreter_shutdown(callback)
    assert hooked == [callback] and fallback == []

    def shutting_down(_callback):
        raise RuntimeError("can't register atexit after shutdown")

    monkeypatch.setattr(threading, "_register_atexit", shutting_down)
    compat.at_interpreter_shutdown(callback)
    assert fallback == []

    monkeypatch.delattr(threading, "_register_atexit")
    compat.at_interpreter_shutdown(callback)
    assert fallback == [callback]


# --- Django ----------------------------------------------------------------------------------------------------


async def _ping(request):
    return HttpResponse(b"pong")


urlpatterns = [path("ping", _ping)]


def test_base_handler_keeps_get_response_async():
    """Django 5.2 and 6.0: ``BaseHandler._get_response_async`` exists and is a coroutine function."""
    assert asyncio.iscoroutinefunction(BaseHandler._get_response_async)


async def test_response_handler_is_the_innermost_async_callable(settings):
    """Django 5.2 and 6.0: ``ASGIHandler()._get_response_async`` resolves the URL and runs the view."""
    settings.ROOT_URLCONF = __name__
    handler = ASGIHandler()
    inner = compat.response_handler(handler)
    assert inner.__func__ is BaseHandler._get_response_async
    assert inner.__self__ is handler
    response = await inner(AsyncRequestFactory().get("/ping"))
    assert response.status_code == 200 and response.content == b"pong"


# --- prometheus-client -----------------------------------------------------------------------------------------


def test_histogram_values_of_a_labelled_child():
    """prometheus-client 0.20 to 0.23: a labelled child of a real ``Histogram`` has ``_buckets`` (one per bucket
    and +Inf) and ``_sum``, and incrementing them is what the exposition shows."""
    registry = CollectorRegistry()
    bounds = (0.1, 1.0, 5.0)
    histogram = Histogram("compat_test_seconds", "compat test", ["step"], buckets=bounds, registry=registry)
    values = compat.histogram_values(histogram.labels("a"))
    assert values is not None
    buckets, amount = values
    assert len(buckets) == len(bounds) + 1  # 0.1, 1, 5 and +Inf
    buckets[1].inc(3)
    amount.inc(2.5)
    sample = registry.get_sample_value
    assert sample("compat_test_seconds_bucket", {"step": "a", "le": "0.1"}) == 0
    assert sample("compat_test_seconds_bucket", {"step": "a", "le": "1.0"}) == 3
    assert sample("compat_test_seconds_bucket", {"step": "a", "le": "+Inf"}) == 3
    assert sample("compat_test_seconds_sum", {"step": "a"}) == 2.5


def test_histogram_values_of_motia_broadcast_delay_matches_its_buckets():
    """prometheus-client 0.20 to 0.23: ``motia_broadcast_delay_seconds`` has DELAY_BUCKETS + Inf counters."""
    values = compat.histogram_values(metrics.broadcast_delay)
    assert values is not None
    assert len(values[0]) == len(metrics.DELAY_BUCKETS) + 1


def test_histogram_values_is_none_without_the_attributes():
    """prometheus-client 0.20 to 0.23: a labelled parent holds no values of its own."""
    parent = Histogram("compat_parent_seconds", "compat test", ["step"], registry=CollectorRegistry())
    assert compat.histogram_values(parent) is None
    assert compat.histogram_values(object()) is None


# --- Daphne 4.2, Twisted 26 and Channels 4.3 -------------------------------------------------------------------


def test_daphne_protocol_and_twisted_consumer_are_none_for_a_plain_callable():
    """Daphne 4.2, Twisted 26 and Channels 4.3: a ``send`` that is not Daphne's has no protocol behind it."""

    async def send(message):
        pass

    assert compat.daphne_protocol(send) is None
    assert compat.daphne_protocol(functools.partial(send)) is None
    assert compat.daphne_protocol(print) is None
    assert compat.twisted_consumer(object()) is None
    assert compat.twisted_consumer(None) is None


def test_daphne_builds_send_as_a_partial_of_handle_reply():
    """Daphne 4.2: ``send`` is ``partial(self.handle_reply, protocol)`` (read from its source: importing
    ``daphne.server`` installs a Twisted reactor in this process)."""
    spec = find_spec("daphne.server")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    assert "send=partial(self.handle_reply, protocol)" in source
    assert "async def handle_reply(self, protocol, message):" in source


class _Protocol:
    def __init__(self, transport=None):
        self.transport = transport

    def registerProducer(self, producer, streaming):
        pass


class _Server:
    async def handle_reply(self, protocol, message):
        pass


_Server.__module__ = "daphne.server"  # Daphne's shape, without importing daphne.server (see above)


async def test_daphne_protocol_looks_through_channels_session_middleware():
    """Channels 4.3: ``InstanceSessionWrapper`` keeps the ``send`` it wraps as ``real_send``."""
    from channels.sessions import CookieMiddleware, SessionMiddleware

    protocol = _Protocol()
    daphne_send = functools.partial(_Server().handle_reply, protocol)
    assert compat.daphne_protocol(daphne_send) is protocol
    seen = []

    async def inner(scope, receive, send):
        seen.append(send)

    app = CookieMiddleware(SessionMiddleware(inner))
    await app({"type": "websocket", "headers": []}, None, daphne_send)
    wrapped = seen[0]
    assert wrapped.__self__.real_send is daphne_send
    assert compat.daphne_protocol(wrapped) is protocol


def test_twisted_http_channel_is_a_consumer_and_a_producer():
    """Twisted 26: ``HTTPChannel`` (the upgraded request's channel) has ``registerProducer`` and
    ``pauseProducing``, so ``twisted_consumer`` finds it as the transport's producer."""
    from twisted.web.http import HTTPChannel

    assert hasattr(HTTPChannel, "registerProducer") and hasattr(HTTPChannel, "pauseProducing")
    channel = HTTPChannel.__new__(HTTPChannel)
    tcp = type("TCP", (), {"producer": channel, "transport": None})()
    tls = type("TLS", (), {"producer": None, "transport": tcp})()
    assert compat.twisted_consumer(_Protocol(tcp)) is channel
    assert compat.twisted_consumer(_Protocol(tls)) is channel  # found through a wrapping transport
    assert compat.twisted_consumer(_Protocol(type("Bare", (), {})())) is None


@pytest.mark.parametrize("name", compat.__all__)
def test_everything_exported_exists(name):
    """compat's ``__all__`` names only functions it defines."""
    assert callable(getattr(compat, name))
