"""The writer: group commit of concurrent writes (each with its own result, error and broadcast), pipelined
writes inside a step scope, and coalescing of one item's queued sets, which always ends on the last state."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia_django.bridge import to_thread
from motia_django.models import StreamItem
from motia_django.stream import write_queue as writes
from motia_django.stream.registry import streams
from motia_django.stream.write_queue import Write, write_scope
from motia_django.testing import capture_changes
from tests.support.realtime import chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def batches(monkeypatch):
    """The sizes of the batches the writer ran."""
    sizes: list[int] = []
    original = writes.Writer._run

    def recording(self, batch):
        sizes.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(writes.Writer, "_run", recording)
    return sizes


async def test_concurrent_writes_share_commits_and_each_gets_its_result(batches):
    with capture_changes() as changes:
        results = await asyncio.gather(*(streams.chatMessage.aset("gc", f"m{i}", chat(f"m{i}")) for i in range(20)))
        await asyncio.sleep(0.05)
    assert [r["id"] for r in results] == [f"m{i}" for i in range(20)]
    assert sum(batches) == 20 and max(batches) > 1  # group commit: fewer commits than writes
    assert sorted(c.id for c in changes) == sorted(f"m{i}" for i in range(20))  # each broadcast, after commit
    assert await StreamItem.objects.filter(group_id="gc").acount() == 20


async def test_a_failing_write_fails_alone(batches):
    def boom():
        raise RuntimeError("this write fails")

    alias = streams.chatMessage.backend.db_alias()
    ok = [streams.chatMessage.aset("fa", f"m{i}", chat(f"m{i}")) for i in range(3)]
    bad = writes.submit(alias, Write(boom))
    results = await asyncio.gather(*ok, bad, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["dict", "dict", "dict", "RuntimeError"]
    assert await StreamItem.objects.filter(group_id="fa").acount() == 3  # the others committed


async def test_sets_in_a_step_scope_are_pipelined_and_coalesced_and_end_on_the_last_state(batches):
    with capture_changes() as changes:
        async with write_scope():
            for i in range(200):
                await streams.openai.aset("tok", "message", {"message": " ".join(["w"] * i)})
        await asyncio.sleep(0.05)
    stored = await StreamItem.objects.aget(stream="openai", group_id="tok", item_id="message")
    assert stored.data == {"message": " ".join(["w"] * 199)}  # the last state is written
    assert changes[-1].event["data"]["message"] == " ".join(["w"] * 199)  # and broadcast last
    assert len(changes) == sum(batches) < 200  # intermediate states were skipped, never reordered
    timestamps = [c.timestamp for c in changes]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(timestamps)


async def test_a_step_reads_its_own_writes_and_they_are_committed_when_the_scope_ends():
    def committed() -> bool:
        return StreamItem.objects.filter(group_id="ryw", item_id="a").exists()

    async with write_scope():
        await streams.chatMessage.aset("ryw", "a", chat("a"))
        assert await streams.chatMessage.aget("ryw", "a") == chat("a")  # the read waited for the write
        await streams.chatMessage.aset("ryw", "b", chat("b"))
    assert await to_thread(committed)()
    assert await streams.chatMessage.aget("ryw", "b") == chat("b")


async def test_a_failed_pipelined_write_fails_the_scope(monkeypatch):
    def broken_set(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(streams.chatMessage.backend, "set", broken_set)
    with pytest.raises(RuntimeError, match="disk full"):
        async with write_scope():
            await streams.chatMessage.aset("fail", "a", chat("a"))  # returns at once ...
    # ... and the step that made it fails when it ends


# --- a batch that committed is never run again (issue #18) ------------------------------------------------------

COUNTERS = {"counter": {"schema": {"type": "object"}}}


def _raise_after_commit() -> None:
    raise RuntimeError("an on-commit hook fails")


async def _one_batch(alias: str, queue: list[Write]) -> list[Any]:
    """Run ``queue`` as one batch: behind a write that holds the writer until all of them are queued."""
    gate = threading.Event()
    writer = writes.writer(alias)
    held = writer.submit(Write(lambda: gate.wait(10)))
    futures = [writer.submit(write) for write in queue]
    gate.set()
    await held
    return list(await asyncio.gather(*futures, return_exceptions=True))


def _hooked(alias: str, run: Any) -> Any:
    """``run``, and an on-commit hook (not robust, as a project's own) that raises once the batch committed."""
    def body() -> Any:
        transaction.on_commit(_raise_after_commit, using=alias)
        return run()
    return body


async def test_a_committed_batch_is_not_run_again_when_an_on_commit_hook_raises(batches, caplog):
    with override_settings(STREAMS=COUNTERS):
        stream = streams.counter
        alias = stream.backend.db_alias()
        await stream.aset("g", "gone", {"n": 0})
        with capture_changes() as changes:
            results = await _one_batch(alias, [
                Write(_hooked(alias, lambda: stream.update("g", "c", [{"type": "increment", "path": "n"}]))),
                Write(lambda: stream.update("g", "c", [{"type": "append", "path": "log", "value": "x"}])),
                Write(lambda: stream.delete("g", "gone")),
            ])
            await asyncio.sleep(0.05)
        assert batches[-1] == 3
        assert [type(r).__name__ for r in results] == ["dict", "dict", "dict"], results  # each its own result
        assert await stream.aget("g", "c") == {"id": "c", "n": 1, "log": "x"}  # counted once, appended once
        assert await stream.aget("g", "gone") is None
        assert [(c.type, c.id) for c in changes] == [("create", "c"), ("update", "c"), ("delete", "gone")]
        assert "Error calling _raise_after_commit" in caplog.text  # logged, and the other hooks ran


class _Refused(Exception):
    pass


def _refused(run: Any) -> Any:
    """``run``, then fail: the batch's transaction is rolled back and its writes are run one by one."""
    def body() -> Any:
        run()
        raise _Refused("this write fails after its statement")
    return body


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["ok", "hook", "fails"])), min_size=2,
                     max_size=8))
def test_a_batch_applies_each_write_once_whatever_fails_in_it(plan):
    """A batch of increments of three counters, some with a failing on-commit hook, some failing themselves (so
    the batch is rolled back and run write by write): each write that succeeded is applied and broadcast once and
    gets its result, each that failed is applied not at all and gets its error. (A write alone is not a batch: it
    runs in autocommit, where Django runs a hook as it is registered.)"""
    run = uuid.uuid4().hex[:8]

    async def scenario() -> tuple[list[Any], dict[str, int], list[str]]:
        stream = streams.counter
        alias = stream.backend.db_alias()

        def increment(n: int) -> Any:
            return lambda: stream.update(run, f"c{n}", [{"type": "increment", "path": "n"}])

        queue = [Write({"ok": increment(n), "hook": _hooked(alias, increment(n)),
                        "fails": _refused(increment(n))}[kind]) for n, kind in plan]
        with capture_changes() as changes:
            results = await _one_batch(alias, queue)
            await asyncio.sleep(0.02)
        counts = {item["id"]: item["n"] for item in await stream.aget_group(run)}
        return results, counts, [c.id for c in changes if c.group_id == run]

    with override_settings(STREAMS=COUNTERS):
        results, counts, broadcast = asyncio.run(scenario())
    expected: dict[str, int] = {}
    for (n, kind), result in zip(plan, results, strict=True):
        assert isinstance(result, _Refused) if kind == "fails" else isinstance(result, dict), (kind, result)
        if kind != "fails":
            expected[f"c{n}"] = expected.get(f"c{n}", 0) + 1
    assert counts == expected
    assert sorted(broadcast) == sorted(f"c{n}" for n, kind in plan if kind != "fails")


# --- each event loop has its own write queue (issue #18) ---------------------------------------------------------


async def test_writes_from_two_loops_at_once_each_resolve_on_their_own_loop():
    """The server's loop and another thread's (as the embedded runner's) write at the same time: each loop queues
    on a writer of its own, and every write resolves on the loop that awaits it. Both loops run in debug mode,
    where touching a future of another loop's thread raises."""
    alias = streams.chatMessage.backend.db_alias()
    asyncio.get_running_loop().set_debug(True)
    theirs: dict[str, Any] = {}

    async def write_many(prefix: str) -> list[Any]:
        sets = [streams.chatMessage.aset("loops", f"{prefix}{i}", chat(f"{prefix}{i}")) for i in range(40)]
        return list(await asyncio.wait_for(asyncio.gather(*sets, return_exceptions=True), 30))  # never a hang

    def other_loop() -> None:
        async def run() -> None:
            theirs["writer"] = writes.writer(alias)
            theirs["results"] = await write_many("t")
        asyncio.run(run(), debug=True)

    thread = threading.Thread(target=other_loop)
    thread.start()
    mine = await write_many("s")
    await asyncio.get_running_loop().run_in_executor(None, thread.join, 30)
    assert not thread.is_alive()
    assert theirs["writer"] is not writes.writer(alias)
    for results in (mine, theirs["results"]):
        assert [type(r).__name__ for r in results] == ["dict"] * 40, results
    assert await StreamItem.objects.filter(group_id="loops").acount() == 80
