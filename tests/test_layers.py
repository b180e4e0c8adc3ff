"""motia_django.layers: channel-layer calls from any thread run in order on one long-lived loop, and never raise."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from motia_django import layers

LOGGER = "motia_django.broadcast"


@pytest.fixture(autouse=True)
def _no_server_loop(monkeypatch):
    """No loop attached before the test, and whatever the test attaches is forgotten after it."""
    monkeypatch.setattr(layers, "_server_loop", None)


def recorder(seen: list, name: str, *, fail: bool = False, pause: bool = False):
    async def send() -> None:
        if pause:
            await asyncio.sleep(0.01)  # a send that yields: the next one must still wait for it
        seen.append((name, asyncio.get_running_loop(), threading.current_thread().name))
        if fail:
            raise ConnectionError(f"{name} failed")

    return send


async def until(condition, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_calls_from_other_threads_run_in_order_on_the_attached_loop():
    loop = asyncio.get_running_loop()
    layers.attach_loop(loop)
    seen: list = []

    def from_a_thread() -> None:
        for i in range(20):
            layers.submit(recorder(seen, f"s{i}", pause=i % 3 == 0))

    await asyncio.to_thread(from_a_thread)  # the caller does not wait for the sends
    await until(lambda: len(seen) == 20, "the sends")
    assert [name for name, _, _ in seen] == [f"s{i}" for i in range(20)]
    assert all(ran_on is loop for _, ran_on, _ in seen)
    assert all(thread == threading.current_thread().name for _, _, thread in seen)


async def test_calls_on_the_loop_itself_are_queued_in_order():
    loop = asyncio.get_running_loop()
    seen: list = []
    layers.submit(recorder(seen, "a", pause=True))  # no loop attached: the running one
    layers.submit(recorder(seen, "b"))
    assert seen == []  # queued, not run inside submit
    await until(lambda: len(seen) == 2, "the sends")
    assert [(name, ran_on) for name, ran_on, _ in seen] == [("a", loop), ("b", loop)]


async def test_a_failing_send_is_logged_and_the_next_still_runs(caplog):
    layers.attach_loop(asyncio.get_running_loop())
    seen: list = []
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        await asyncio.to_thread(layers.submit, recorder(seen, "bad", fail=True))
        await asyncio.to_thread(layers.submit, recorder(seen, "good"))
        await until(lambda: len(seen) == 2, "the sends")
    assert [name for name, _, _ in seen] == ["bad", "good"]
    assert any("channel layer send failed" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_the_loop_a_sync_to_async_call_came_from_is_used():
    from asgiref.sync import sync_to_async

    loop = asyncio.get_running_loop()
    seen: list = []
    await sync_to_async(layers.submit, thread_sensitive=False)(recorder(seen, "x"))
    await until(lambda: seen, "the send")
    assert seen[0][1] is loop


def test_without_a_loop_its_own_thread_runs_the_send_and_the_caller_waits():
    seen: list = []
    layers.submit(recorder(seen, "first", pause=True))
    layers.submit(recorder(seen, "second"))
    assert [name for name, _, _ in seen] == ["first", "second"]  # done when submit returned
    assert {thread for _, _, thread in seen} == {"motia-broadcast"}
    assert seen[0][1] is seen[1][1]  # one long-lived loop


def test_without_a_loop_a_failing_send_is_logged_not_raised(caplog):
    seen: list = []
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        layers.submit(recorder(seen, "bad", fail=True))
    assert [name for name, _, _ in seen] == ["bad"]
    assert any("channel layer send failed" in r.getMessage() for r in caplog.records)


def test_without_a_loop_a_send_that_hangs_is_given_up_after_the_timeout(monkeypatch, caplog):
    monkeypatch.setattr(layers, "SEND_TIMEOUT", 0.01)

    async def hangs() -> None:
        await asyncio.sleep(0.5)

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        layers.submit(hangs)  # returns (logged) instead of raising TimeoutError
    assert any("channel layer send failed" in r.getMessage() for r in caplog.records)


def test_a_closed_attached_loop_is_not_used():
    dead = asyncio.new_event_loop()
    layers.attach_loop(dead)
    dead.close()
    seen: list = []
    layers.submit(recorder(seen, "x"))
    assert seen and seen[0][2] == "motia-broadcast"


def test_is_local_layer():
    assert layers.is_local_layer(InMemoryChannelLayer())
    assert not layers.is_local_layer(RedisChannelLayer(hosts=["redis://127.0.0.1:1"]))
    assert not layers.is_local_layer(RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:1"]))
    assert not layers.is_local_layer(None)


def test_the_test_settings_layer_is_local():
    from channels.layers import get_channel_layer

    assert layers.is_local_layer(get_channel_layer())


def test_process_origin_is_stable_in_a_process():
    origin = layers.process_origin()
    assert origin == layers.process_origin()
    assert origin.startswith(f"{os.getpid()}-")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_an_origin_and_loops_of_its_own():
    parent = layers.process_origin()
    loop = asyncio.new_event_loop()
    layers.attach_loop(loop)  # a parent's loop, which does not run in the child
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once
        try:
            os.write(write, f"{layers.process_origin()}|{layers._server_loop is None}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child, no_loop = pipe.read().split("|")
    os.waitpid(pid, 0)
    loop.close()
    assert child != parent and child.startswith(f"{pid}-") and no_loop == "True"
    assert layers.process_origin() == parent
