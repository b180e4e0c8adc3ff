"""motia_django.stream.backends.db: ``DatabaseBackend`` (create or update, timestamps, each group's sequence
numbers and floor, reads) and ``group_seqs``, on the database the suite runs on."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia_django.encoding import encode
from motia_django.models import StreamGroup, StreamItem
from motia_django.stream import items
from motia_django.stream.backends import db as db_module
from motia_django.stream.backends.db import DatabaseBackend, group_seqs

pytestmark = pytest.mark.django_db

S = "dbStream"


@pytest.fixture
def db() -> DatabaseBackend:
    return DatabaseBackend()


@pytest.fixture
def clock(monkeypatch):
    """The protocol's clock, frozen at ``clock.ms``."""

    class Clock:
        ms = 1_000

    monkeypatch.setattr(items, "time_ns", lambda: Clock.ms * 1_000_000)
    return Clock


def put(db: DatabaseBackend, group: str, id: str, **data):
    return db.set(S, group, id, data, encode(data))


def test_flags(db):
    assert (db.pipelined, db.broadcasts, db.kind, db.db_alias()) == (True, False, "default", "default")


def test_set_creates_then_updates(db):
    first = put(db, "g", "a", n=1)
    second = put(db, "g", "a", n=2)
    assert (first.created, second.created) == (True, False)
    assert (first.data, second.data) == ({"n": 1}, {"n": 2})
    row = StreamItem.objects.get(stream=S)
    assert (row.data, row.version) == ({"n": 2}, 2)
    assert db.get(S, "g", "a").data == {"n": 2} and db.get(S, "g", "missing") is None


def test_timestamps_strictly_increase_per_item(db, clock):
    stamps = [put(db, "g", "a", n=i).timestamp for i in range(3)]
    assert stamps == [1_000, 1_001, 1_002]  # one millisecond: each one more
    assert put(db, "g", "b").timestamp == 1_000  # another item has its own
    clock.ms = 900  # the clock went back
    assert put(db, "g", "a").timestamp == 1_003
    clock.ms = 5_000
    assert put(db, "g", "a").timestamp == 5_000
    assert db.get(S, "g", "a").timestamp == 5_000


def test_sequence_numbers_per_group(db):
    assert [put(db, "g1", id).seq for id in ("a", "b", "a")] == [1, 2, 3]
    assert put(db, "g2", "a").seq == 1
    assert db.delete(S, "g1", "b").seq == 4
    assert db.update(S, "g1", "a", lambda data: {**data, "u": 1}).seq == 5
    assert (db.group_seq(S, "g1"), db.group_seq(S, "g2")) == (5, 1)
    assert db.group_seq(S, "never-written") == 0


def test_sequence_numbers_are_rolled_back_with_the_write(db):
    put(db, "g", "a")
    with pytest.raises(RuntimeError), transaction.atomic():
        put(db, "g", "b")
        raise RuntimeError("roll back")
    assert db.group_seq(S, "g") == 1
    assert put(db, "g", "c").seq == 2  # no gap


def test_get_group_is_oldest_first_and_limit_keeps_the_newest(db):
    for id in ("c", "a", "b", "d"):
        put(db, "g", id)
    put(db, "g", "a", edited=True)  # an update keeps the item's place
    put(db, "other", "z")
    assert [id for id, _ in db.get_group(S, "g")] == ["c", "a", "b", "d"]
    assert [id for id, _ in db.get_group(S, "g", limit=2)] == ["b", "d"]
    assert [id for id, _ in db.get_group(S, "g", limit=10)] == ["c", "a", "b", "d"]
    assert dict(db.get_group(S, "g"))["a"].data == {"edited": True}


def test_newest_reads_newest_first_within_limit_and_bytes(db):
    for id in ("a", "b", "c"):
        put(db, "g", id, text="x" * 10)
    assert [id for id, _ in db.newest(S, "g", None, 10_000)] == ["a", "b", "c"]
    assert [id for id, _ in db.newest(S, "g", 2, 10_000)] == ["b", "c"]
    one = len(encode({"text": "x" * 10})) + 1 + 8
    assert [id for id, _ in db.newest(S, "g", None, one * 2)] == ["b", "c"]


TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(st.dictionaries(TEXT, JSON, max_size=4), st.integers(0, 2**62)), max_size=6),
       limit=st.none() | st.integers(1, 7), budget=st.integers(1, 600))
def test_the_written_out_reads_are_the_orms(db, monkeypatch, items, limit, budget):
    """``get`` and ``newest`` by hand-written statements return what the ORM's queries return, whatever the
    stored JSON (written here through the ORM, as the admin writes it)."""
    group = uuid.uuid4().hex
    now = timezone.now()
    StreamItem.objects.bulk_create([
        StreamItem(stream=S, group_id=group, item_id=f"i{n}", data=data, timestamp=ts,
                   created_at=now + dt.timedelta(seconds=n % 3), updated_at=now)  # created_at ties: id decides
        for n, (data, ts) in enumerate(items)])

    def reads() -> tuple[object, ...]:
        return (db.newest(S, group, limit, budget), [db.get(S, group, f"i{n}") for n in range(len(items) + 1)])

    written_out = reads()
    with monkeypatch.context() as orm:
        orm.setattr(db_module, "_written_out", lambda connection: False)
        assert written_out == reads()


def test_a_float_past_64_bits_reads_back_as_a_float(db):
    """PostgreSQL's jsonb keeps 1e20 as the numeric 100000000000000000000: read back as an integer past 64 bits,
    it broke every sync of its group (the wire cannot carry it)."""
    put(db, "g", "a", n=1e20, m=-1e19, small=2**63)
    assert db.get(S, "g", "a").data == {"n": 1e20, "m": -1e19, "small": 2**63}
    assert db.newest(S, "g", None, 10_000)[0][1].data == {"n": 1e20, "m": -1e19, "small": 2**63}
    assert db.get_group(S, "g")[0][1].data["n"] == 1e20
    assert StreamItem.objects.get(group_id="g", item_id="a").data["n"] == 1e20  # the ORM, the admin
    assert db.delete(S, "g", "a").data["n"] == 1e20


def test_a_read_that_stops_at_its_budget_fetches_a_chunk_at_a_time(db, monkeypatch):
    monkeypatch.setattr(db_module, "_CHUNK", 2)
    for id in "abcde":
        put(db, "g", id, text="x" * 10)
    one = len(encode({"text": "x" * 10})) + 1 + 8
    assert [id for id, _ in db.newest(S, "g", None, one * 3)] == ["c", "d", "e"]
    assert [id for id, _ in db.newest(S, "g", None, 10_000)] == list("abcde")


def test_delete_returns_the_item_and_raises_the_groups_floor(db, clock):
    put(db, "g", "a", n=1)
    put(db, "g", "a", n=2)  # timestamp 1001
    deleted = db.delete(S, "g", "a")
    assert (deleted.data, deleted.timestamp, deleted.seq) == ({"n": 2}, 1_002, 3)
    assert db.get(S, "g", "a") is None
    assert StreamGroup.objects.get(stream=S, group_id="g").floor == 1_002
    again = put(db, "g", "a")  # re-created in the same millisecond: above the delete
    assert again.created and again.timestamp == 1_003
    assert put(db, "g", "fresh").timestamp == 1_003  # any item of the group


def test_delete_of_a_missing_item_is_none_and_leaves_no_gap(db):
    put(db, "g", "a")
    assert db.delete(S, "g", "missing") is None
    assert db.delete(S, "never-written", "x") is None
    assert db.group_seq(S, "g") == 1
    assert not StreamGroup.objects.filter(stream=S, group_id="never-written").exists()  # the bump undone
    assert put(db, "g", "b").seq == 2


def test_delete_unwritten_since_spares_an_item_written_after(db):
    put(db, "g", "a")
    cutoff = timezone.now() + dt.timedelta(seconds=60)
    assert db.delete(S, "g", "a", unwritten_since=cutoff - dt.timedelta(days=1)) is None  # written since then
    assert db.get(S, "g", "a") is not None and db.group_seq(S, "g") == 1
    assert db.delete(S, "g", "a", unwritten_since=cutoff).seq == 2


def test_update_creates_or_changes_atomically(db, clock):
    seen = []

    def change(data):
        seen.append(data)
        return {**(data or {}), "count": (data or {}).get("count", 0) + 1}

    created = db.update(S, "g", "a", change)
    changed = db.update(S, "g", "a", change)
    assert seen == [None, {"count": 1}]
    assert (created.created, created.data, created.timestamp, created.previous) == (True, {"count": 1}, 1_000, None)
    assert (changed.created, changed.data, changed.timestamp, changed.previous) == (
        False, {"count": 2}, 1_001, {"count": 1})
    assert StreamItem.objects.get(stream=S).version == 2


def test_list_groups_and_group_sizes(db):
    for group, ids in {"b": ["1"], "a": ["1", "2"], "c": ["1"]}.items():
        for id in ids:
            put(db, group, id)
    db.delete(S, "c", "1")
    assert db.list_groups(S) == ["a", "b"]
    assert db.group_sizes(S) == {"a": 2, "b": 1}
    assert db.list_groups("nothing") == [] and db.group_sizes("nothing") == {}


def test_clear_deletes_each_item_as_its_own_write(db):
    for id in ("a", "b", "c"):
        put(db, "g", id)
    removed = db.clear(S, "g")
    assert [(id, stored.seq) for id, stored in removed] == [("a", 4), ("b", 5), ("c", 6)]
    assert db.get_group(S, "g") == [] and db.clear(S, "g") == []


def test_group_seqs(db):
    put(db, "g1", "a")
    put(db, "g1", "b")
    put(db, "g2", "a")
    db.set("otherStream", "g1", "a", {}, "{}")
    keys = [(S, "g1"), (S, "g2"), (S, "unwritten"), ("otherStream", "g1"), ("otherStream", "g2")]
    assert group_seqs(keys) == {(S, "g1"): 2, (S, "g2"): 1, ("otherStream", "g1"): 1}
    assert group_seqs([]) == {}


def test_group_seqs_of_many_groups(db):
    written = [f"g{i}" for i in range(0, 1_200, 100)]
    for group in written:
        put(db, group, "a")
    keys = [(S, f"g{i}") for i in range(1_200)]  # more than one batch of 500
    assert group_seqs(keys) == {(S, group): 1 for group in written}


# --- batches (presence's arrivals and departures) ------------------------------------------------------------


def _state(db: DatabaseBackend, group: str) -> tuple[list[tuple[str, dict]], int]:
    return [(id, stored.data) for id, stored in db.get_group(S, group)], StreamGroup.objects.get(
        stream=S, group_id=group).seq


def test_set_many_writes_each_item_with_its_own_sequence_number(db, clock):
    put(db, "g", "b", n=0)
    clock.ms = 2_000
    stored = db.set_many(S, "g", [(id, {"n": i}, encode({"n": i})) for i, id in enumerate(["a", "b", "c"])])
    assert [(s.seq, s.created, s.data) for s in stored] == [(2, True, {"n": 0}), (3, False, {"n": 1}),
                                                            (4, True, {"n": 2})]
    assert [s.timestamp for s in stored] == [2_000, 2_000, 2_000]
    assert _state(db, "g") == ([("b", {"n": 1}), ("a", {"n": 0}), ("c", {"n": 2})], 4)


def test_set_many_stamps_past_the_groups_floor_and_the_items_last_write(db, clock):
    put(db, "g", "a", n=0)
    clock.ms = 500  # the clock went back: timestamps still grow
    put(db, "g", "x", n=0)
    db.delete(S, "g", "x")
    [a, b] = db.set_many(S, "g", [("a", {"n": 1}, encode({"n": 1})), ("b", {"n": 1}, encode({"n": 1}))])
    floor = StreamGroup.objects.get(stream=S, group_id="g").floor
    assert a.timestamp > 1_000 and b.timestamp > floor


def test_delete_many_deletes_what_exists_each_with_its_own_sequence_number(db, clock):
    for id in "abc":
        put(db, "g", id, k=id)
    clock.ms = 5_000
    removed = db.delete_many(S, "g", ["c", "missing", "a"])
    assert [(id, s.data, s.seq, s.timestamp) for id, s in removed] == [("c", {"k": "c"}, 4, 5_000),
                                                                        ("a", {"k": "a"}, 5, 5_000)]
    assert _state(db, "g") == ([("b", {"k": "b"})], 5)
    assert StreamGroup.objects.get(stream=S, group_id="g").floor == 5_000
    assert db.delete_many(S, "g", ["a", "c"]) == [] and _state(db, "g")[1] == 5  # nothing deleted: no gap
    assert db.delete_many(S, "never-written", ["a", "b"]) == []


@pytest.mark.django_db(transaction=True)
def test_batches_end_as_one_by_one_writes_do():
    """hypothesis: any sequence of batch sets and deletes on a group leaves the items, their create flags and the
    sequence numbers that the same writes made one at a time leave on another group."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ids = st.lists(st.sampled_from("abcdefgh"), unique=True, min_size=0, max_size=6)
    ops = st.lists(st.tuples(st.booleans(), ids), max_size=8)
    db = DatabaseBackend()
    run = [0]

    @settings(max_examples=40, deadline=None, database=None)
    @given(ops=ops)
    def check(ops: list[tuple[bool, list[str]]]) -> None:
        run[0] += 1
        batched, single = f"batch-{run[0]}", f"single-{run[0]}"
        for write, chunk in ops:
            items_ = [(id, {"v": f"{id}{run[0]}"}, encode({"v": f"{id}{run[0]}"})) for id in chunk]
            if write:
                got = [(s.created, s.seq) for s in db.set_many(S, batched, items_)]
                want = [(s.created, s.seq) for s in (db.set(S, single, *item) for item in items_)]
            else:
                got = [(id, s.seq) for id, s in db.delete_many(S, batched, chunk)]
                want = [(id, s.seq) for id in chunk if (s := db.delete(S, single, id)) is not None]
            assert got == want
        assert [(id, s.data) for id, s in db.get_group(S, batched)] == [
            (id, s.data) for id, s in db.get_group(S, single)]

    check()
