"""The protocol as data: parsing join/leave frames, the error frame, the names a bad frame carries."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from motia_django.exceptions import FrameError
from motia_django.realtime.protocol import (
    MAX_OUTGOING_FRAME,
    SnapshotHandoff,
    Subscription,
    Sync,
    _pages,
    error_frame,
    frame_names,
    parse_frame,
    parse_subscription,
    snapshot,
)
from motia_django.stream.backends.base import StoredItem, newest_within
from motia_django.stream.registry import streams
from tests.support.realtime import Client, error_code


def test_parse_group_and_item_subscriptions():
    data = {"streamName": "chat", "groupId": "g", "subscriptionId": "s1"}
    assert parse_subscription(data) == Subscription("s1", "chat", "g")
    assert parse_subscription({**data, "id": "m1"}) == Subscription("s1", "chat", "g", "m1")
    assert parse_subscription({**data, "id": "m1"}).as_dict() == {**data, "id": "m1"}


@pytest.mark.parametrize(("data", "names"), [
    ("nope", (None, None)),
    ({"streamName": "chat"}, ("chat", None)),
    ({"streamName": "chat", "groupId": "g"}, ("chat", "g")),  # no subscriptionId
    ({"streamName": "chat", "groupId": "g", "subscriptionId": "s", "id": 5}, ("chat", "g")),
])
def test_bad_subscriptions_raise_frame_errors_naming_what_is_known(data, names):
    with pytest.raises(FrameError) as info:
        parse_subscription(data)
    assert info.value.code == "INVALID_MESSAGE"
    assert (info.value.stream, info.value.group_id) == names


def test_error_frame_has_no_id():
    frame = json.loads(error_frame("chat", "g", "STREAM_NOT_FOUND", "no"))
    assert "id" not in frame and frame["timestamp"] > 0
    assert frame["event"] == {"type": "event", "event": {"type": "error",
                                                        "data": {"code": "STREAM_NOT_FOUND", "message": "no"}}}


def test_frame_names_only_takes_strings():
    assert frame_names({"streamName": 1, "groupId": "g"}) == (None, "g")


def test_parse_frame_says_why_a_frame_gets_no_answer():
    assert parse_frame('{"type": "join"}', 64) == {"type": "join"}
    assert parse_frame(None, 64) == "binary"
    assert parse_frame("x" * 65, 64) == "too_large"
    assert parse_frame("é" * 33, 64) == "too_large"  # 66 bytes of UTF-8 in 33 characters
    assert parse_frame("{not json", 64) == "not_json"
    assert parse_frame("[1]", 64) == parse_frame("null", 64) == "not_an_object"


# --- snapshots: bounded, read newest first, paged (docs/protocol.md, "Joining" and "Limits") ---------------------

PAD = "x" * 1000
BIG = {"big": {"schema": {"type": "object"}}}


def _group(name: str, count: int, pad: str = PAD) -> None:
    for i in range(count):
        streams[name].set("g", f"m{i:03d}", {"pad": pad})


def _decoded(sync: Sync) -> list[dict[str, Any]]:
    return [json.loads(text) for text, _size in sync.frames]


def _whole(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Motia's group subscriber ends with: the first page's sync, then each further page's create."""
    items = list(frames[0]["event"]["data"])
    items += [frame["event"]["data"] for frame in frames[1:]]
    return items


@pytest.mark.django_db
def test_sync_max_bytes_keeps_the_newest_items_that_fit_oldest_first():
    with override_settings(STREAMS=BIG):
        _group("big", 10)
        sync = snapshot(streams["big"], Subscription("s", "big", "g"), max_bytes=3500, page_bytes=1 << 20)
        (frame,) = _decoded(sync)
        assert [item["id"] for item in frame["event"]["data"]] == ["m007", "m008", "m009"]
        assert sum(len(json.dumps(item, separators=(",", ":"))) for item in frame["event"]["data"]) <= 3500
        # a budget smaller than the newest item: nothing older is let in ahead of it
        sync = snapshot(streams["big"], Subscription("s", "big", "g"), max_bytes=500, page_bytes=1 << 20)
        assert _decoded(sync)[0]["event"] == {"type": "sync", "data": []}


@pytest.mark.django_db
def test_a_sync_is_read_newest_first_and_stops_at_its_budget():
    with override_settings(STREAMS=BIG):
        _group("big", 5)
        with CaptureQueriesContext(connection) as queries:
            streams["big"].backend.newest("big", "g", 1000, 2500)
        (sql,) = [q["sql"] for q in queries.captured_queries]
        assert "DESC" in sql.upper() and "LIMIT 1000" in sql.upper()  # newest first, at most SYNC_LIMIT rows

    taken: list[str] = []

    def newest_first() -> Iterator[tuple[str, StoredItem]]:
        for i in range(1000, 0, -1):
            taken.append(f"m{i}")
            yield f"m{i}", StoredItem({"pad": PAD}, i)

    kept = newest_within(newest_first(), 3500)
    assert [item_id for item_id, _ in kept] == ["m998", "m999", "m1000"]
    assert len(taken) == 4  # one past the budget, not the whole group


@pytest.mark.django_db
def test_sync_limit_bounds_the_items_of_a_group_sync():
    with override_settings(STREAMS=BIG, MOTIA={"SYNC_LIMIT": 3}):
        _group("big", 6, pad="x")
        assert streams["big"].sync_limit == 3
        sync = snapshot(streams["big"], Subscription("s", "big", "g"), max_bytes=1 << 20, page_bytes=1 << 20)
        assert [item["id"] for item in _decoded(sync)[0]["event"]["data"]] == ["m003", "m004", "m005"]


@pytest.mark.django_db
def test_a_large_sync_is_paged_a_sync_then_creates_without_a_top_level_id():
    with override_settings(STREAMS=BIG):
        _group("big", 20)
        sync = snapshot(streams["big"], Subscription("s", "big", "g"), max_bytes=1 << 20, page_bytes=4096)
        frames = _decoded(sync)
        assert len(frames) > 1 and all(size <= 4096 for _text, size in sync.frames)
        assert all(size == len(text.encode()) for text, size in sync.frames)
        first, rest = frames[0], frames[1:]
        assert first["event"]["type"] == "sync" and isinstance(first["event"]["data"], list)
        assert all(frame["event"]["type"] == "create" for frame in rest)
        assert all("id" not in frame and frame["streamName"] == "big" and frame["groupId"] == "g" for frame in frames)
        assert len({frame["timestamp"] for frame in frames}) == 1  # the sync's own stamp, never older than now
        assert [item["id"] for item in _whole(frames)] == [f"m{i:03d}" for i in range(20)]  # whole, in order
        assert sync.seq == 20
        small = snapshot(streams["big"], Subscription("s", "big", "g"), max_bytes=1 << 20, page_bytes=1 << 20)
        assert len(small.frames) == 1 and _whole(_decoded(small)) == _whole(frames)  # one frame when it fits


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 3000), max_size=40), page=st.integers(2500, 9000),
       group=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=255),
       stream=st.sampled_from(["s", "a" * 255, "é" * 255]))
def test_pages_never_exceed_the_page_size_unless_one_item_does(sizes, page, group, stream):
    items = [{"id": f"i{n}", "pad": "y" * size} for n, size in enumerate(sizes)]
    frames = _pages(stream, group, items, 1_760_000_000_123, page)
    decoded = [json.loads(text) for text, _ in frames]
    assert _whole(decoded) == items
    for (text, size), frame in zip(frames, decoded, strict=True):
        assert size == len(text.encode())
        data = frame["event"]["data"]
        assert size <= page or (frame["event"]["type"] == "create" or len(data) == 1), (size, page)


@pytest.mark.django_db
def test_an_item_too_large_for_any_frame_is_sync_too_large():
    with override_settings(STREAMS=BIG, MOTIA={"MAX_ITEM_BYTES": 4 * MAX_OUTGOING_FRAME}):
        huge = {"pad": "z" * (MAX_OUTGOING_FRAME + 10)}  # written around the stream API's own bound
        streams["big"].set("g", "huge", huge)
        streams["big"].set("g", "small", {"pad": "s"})
        for sub in (Subscription("s", "big", "g", "huge"), Subscription("s", "big", "g")):
            with pytest.raises(FrameError) as info:
                snapshot(streams["big"], sub, max_bytes=4 * MAX_OUTGOING_FRAME, page_bytes=512 * 1024)
            assert (info.value.code, info.value.stream, info.value.group_id) == ("SYNC_TOO_LARGE", "big", "g")
        # within SYNC_MAX_BYTES it is not read at all: the newest items that fit are synced instead
        sync = snapshot(streams["big"], Subscription("s", "big", "g"), max_bytes=MAX_OUTGOING_FRAME,
                        page_bytes=512 * 1024)
        assert [item["id"] for item in _whole(_decoded(sync))] == ["small"]
        item = snapshot(streams["big"], Subscription("s", "big", "g", "small"), max_bytes=10, page_bytes=10)
        assert _decoded(item)[0]["event"] == {"type": "sync", "data": {"id": "small", "pad": "s"}}  # item: no budget


@pytest.mark.django_db
def test_a_page_size_above_the_largest_frame_still_pages_a_group_of_small_items():
    with override_settings(STREAMS=BIG, MOTIA={"MAX_ITEM_BYTES": 4 * MAX_OUTGOING_FRAME}):
        _group("big", 1000, pad="x" * 1500)  # 1.5 MB of small items
        sync = snapshot(streams["big"], Subscription("s", "big", "g"), max_bytes=4 * MAX_OUTGOING_FRAME,
                        page_bytes=4 * MAX_OUTGOING_FRAME)
        assert all(size <= MAX_OUTGOING_FRAME for _text, size in sync.frames)  # paged, not SYNC_TOO_LARGE
        assert len(_whole(_decoded(sync))) == 1000


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_a_client_gets_a_paged_sync_and_sync_too_large_makes_no_subscription():
    with override_settings(STREAMS=BIG, MOTIA={"SYNC_PAGE_BYTES": 4096, "MAX_ITEM_BYTES": 4 * MAX_OUTGOING_FRAME}):
        for i in range(12):
            await streams["big"].aset("paged", f"m{i:03d}", {"pad": PAD})
        await streams["big"].aset("huge", "h", {"pad": "z" * (MAX_OUTGOING_FRAME + 10)})
        client = await Client().connect()
        await client.join("big", "paged")
        frames = [await client.next()]
        while len(_whole(frames)) < 12:
            frames.append(await client.next())
        assert frames[0]["event"]["type"] == "sync" and len(frames) > 1
        assert [item["id"] for item in _whole(frames)] == [f"m{i:03d}" for i in range(12)]
        await streams["big"].aset("paged", "m012", {"pad": "late"})  # a change follows the last page
        assert (await client.next())["event"] == {"type": "create", "data": {"id": "m012", "pad": "late"}}
        await client.join("big", "huge")
        assert error_code(await client.next()) == "SYNC_TOO_LARGE"
        await streams["big"].aset("huge", "h2", {"pad": "small"})  # no subscription was made
        await client.fence("big", "paged")
        await client.close()


# --- what waits behind a snapshot being read: bounded as the send queue is -----------------------------------------


async def test_changes_held_behind_a_snapshot_are_bounded_and_follow_the_syncs():
    out: list[str] = []
    handoff = SnapshotHandoff(lambda text, *rest: out.append(text), limit=3, max_bytes=100)
    assert handoff.hold(("now", None, False, None, 3)) is None  # no read: sent at once
    async with handoff.reading() as sends:
        assert handoff.hold(("c1", None, False, None, 40)) is True
        assert handoff.hold(("c2", None, False, None, 70)) is False  # 110 > 100 bytes: the client is cut off
        assert handoff.hold(("c3", None, False, None, 30)) is True
        assert handoff.hold(("c4", None, False, None, 30)) is True
        assert handoff.hold(("c5", None, False, None, 1)) is False  # 3 frames already wait
        assert handoff.held_bytes == 100
        sends.append(lambda: out.append("sync"))
    assert out == ["sync", "c1", "c3", "c4"]  # the sync first, then what waited, in order
    assert handoff.held is None and handoff.held_bytes == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_a_socket_whose_held_changes_pass_the_bound_is_cut_off_with_4013(monkeypatch):
    from motia_django.realtime import snapshots as snapshots_module
    from motia_django.realtime.consumer import CLOSE_SLOW_CLIENT, StreamConsumer

    started, gate = threading.Event(), threading.Event()
    real = snapshots_module.snapshot
    sockets: list[StreamConsumer] = []

    def slow(stream, sub, **limits):
        started.set()
        gate.wait(5)
        return real(stream, sub, **limits)

    async def connect(self):
        sockets.append(self)
        await real_connect(self)

    real_connect = StreamConsumer.connect
    monkeypatch.setattr(StreamConsumer, "connect", connect)
    monkeypatch.setattr(snapshots_module, "snapshot", slow)
    with override_settings(MOTIA={"SEND_QUEUE_BYTES": 8192, "SYNC_MAX_BYTES": 4096}):
        client = await Client().connect()
        await client.join("chatMessage", "room")
        while not started.is_set():
            await asyncio.sleep(0.005)
        (socket,) = sockets
        for i in range(12):  # 12 KiB of changes for the socket while its sync is read
            socket.push(json.dumps({"streamName": "chatMessage", "groupId": "room", "i": i, "pad": PAD}))
        assert socket.closing  # past SEND_QUEUE_BYTES behind the snapshot: cut off
        gate.set()
        output = await client.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": CLOSE_SLOW_CLIENT}  # nothing else went out


@pytest.mark.django_db
@pytest.mark.parametrize("item_id", ["m{:03d}", "é{:03d}" + "é" * 200])  # ASCII ids; long ids of 2-byte characters
def test_a_sync_on_the_wire_is_at_most_sync_max_bytes_whatever_its_names(item_id):
    group = "g" * 255
    with override_settings(STREAMS=BIG):
        for i in range(60):
            streams["big"].set(group, item_id.format(i), {"pad": PAD})
        sync = snapshot(streams["big"], Subscription("s", "big", group), max_bytes=32 * 1024, page_bytes=4096)
        items = _whole(_decoded(sync))
        assert sum(size for _text, size in sync.frames) <= 32 * 1024  # pages, envelopes and all
        assert [item["id"] for item in items] == [item_id.format(i) for i in range(60 - len(items), 60)]
        assert len(items) > 10  # still the newest that fit


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_a_large_sync_fits_a_send_queue_of_sync_max_bytes(monkeypatch):
    """SEND_QUEUE_BYTES may equal SYNC_MAX_BYTES (check E021): a client joining a large group while its transport is
    slow must not be cut off by its own sync."""
    from motia_django.realtime.consumer import StreamConsumer
    from motia_django.realtime.send_queue import SendQueue

    real_push = SendQueue.push

    def paused_push(self, *args, **kwargs):  # the transport is busy: every frame waits in the queue
        if self.writable is None:
            self.writable = asyncio.Event()
            asyncio.get_running_loop().call_later(0.2, self.writable.set)
        return real_push(self, *args, **kwargs)

    monkeypatch.setattr(SendQueue, "push", paused_push)
    cut: list[int] = []
    monkeypatch.setattr(StreamConsumer, "queue_full", lambda self: cut.append(1))
    with override_settings(STREAMS=BIG, MOTIA={"SEND_QUEUE_BYTES": 32 * 1024, "SYNC_MAX_BYTES": 32 * 1024,
                                               "SYNC_PAGE_BYTES": 4096}):
        group = "g" * 255
        for i in range(60):
            await streams["big"].aset(group, f"m{i:03d}", {"pad": PAD})
        client = await Client().connect()
        await client.join("big", group)
        await client.join("fence", "end", sub="fence")
        frames = [await client.next()]
        while frames[-1]["groupId"] != "end":
            frames.append(await client.next())
        assert not cut  # the whole sync went into the queue
        assert frames[0]["event"]["type"] == "sync" and len(_whole(frames[:-1])) > 10
        await client.close()
