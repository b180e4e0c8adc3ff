"""motia_django.stream.backends.base: the ``Backend`` interface's defaults, built on its abstract methods (a tiny
in-memory subclass), and ``newest_within``."""

from __future__ import annotations

import orjson
import pytest

from motia_django.stream.backends.base import Backend, StoredItem, newest_within


class Memory(Backend):
    """Items in a dict: only what ``Backend`` leaves abstract."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, StoredItem]] = {}
        self.clock = 0
        self.vanish: set[str] = set()  # ids another writer deletes first (delete finds nothing)

    def get(self, stream, group_id, id):
        return self.items.get((stream, group_id), {}).get(id)

    def set(self, stream, group_id, id, data, encoded):
        self.clock += 1
        group = self.items.setdefault((stream, group_id), {})
        created = id not in group
        group[id] = StoredItem(data, self.clock)
        return StoredItem(data, self.clock, created=created)

    def delete(self, stream, group_id, id):
        if id in self.vanish:
            return None
        return self.items.get((stream, group_id), {}).pop(id, None)

    def get_group(self, stream, group_id, limit=None):
        found = list(self.items.get((stream, group_id), {}).items())
        return found[-limit:] if limit is not None else found

    def list_groups(self, stream):
        return sorted(g for (s, g), group in self.items.items() if s == stream and group)

    def update(self, stream, group_id, id, change):
        current = self.get(stream, group_id, id)
        return self.set(stream, group_id, id, change(current.data if current else None), "")


@pytest.fixture
def memory() -> Memory:
    backend = Memory()
    for group, ids in {"a": ["1", "2", "3"], "b": ["x"]}.items():
        for id in ids:
            backend.set("s", group, id, {"n": id}, "")
    backend.set("other", "a", "9", {}, "")
    return backend


def test_backend_is_abstract():
    with pytest.raises(TypeError):
        Backend()  # type: ignore[abstract]


def test_defaults():
    backend = Memory()
    assert (backend.pipelined, backend.broadcasts, backend.kind) == (False, False, "custom")
    assert backend.group_seq("s", "a") is None  # no sequence numbers kept
    assert backend.db_alias() is None


def test_group_sizes_from_list_groups_and_get_group(memory):
    assert memory.group_sizes("s") == {"a": 3, "b": 1}
    assert memory.group_sizes("empty") == {}


def test_group_sizes_says_when_the_storage_cannot_list_groups():
    class Unlisted(Memory):
        def list_groups(self, stream):
            raise NotImplementedError("this storage cannot list its groups")

    with pytest.raises(NotImplementedError):
        Unlisted().group_sizes("s")


def test_clear_deletes_each_item_and_returns_what_it_deleted(memory):
    removed = memory.clear("s", "a")
    assert [(id, stored.data) for id, stored in removed] == [("1", {"n": "1"}), ("2", {"n": "2"}), ("3", {"n": "3"})]
    assert memory.get_group("s", "a") == [] and memory.get_group("s", "b") != []
    assert memory.clear("s", "a") == []


def test_clear_skips_an_item_already_gone(memory):
    memory.vanish = {"2"}
    assert [id for id, _ in memory.clear("s", "a")] == ["1", "3"]


def test_newest_keeps_the_newest_within_limit_and_bytes_oldest_first(memory):
    assert [id for id, _ in memory.newest("s", "a", None, 10_000)] == ["1", "2", "3"]
    assert [id for id, _ in memory.newest("s", "a", 2, 10_000)] == ["2", "3"]
    one = len(orjson.dumps({"n": "3"})) + len("3") + 8
    assert [id for id, _ in memory.newest("s", "a", None, one * 2)] == ["2", "3"]
    assert memory.newest("s", "a", None, one - 1) == []


def test_newest_within():
    items = [("c", StoredItem({"x": "3"}, 3)), ("b", StoredItem({"x": "2"}, 2)), ("a", StoredItem({"x": "1"}, 1))]
    size = len(orjson.dumps({"x": "1"})) + 1 + 8
    assert [id for id, _ in newest_within(items, size * 3)] == ["a", "b", "c"]
    assert [id for id, _ in newest_within(items, size * 2)] == ["b", "c"]
    assert [id for id, _ in newest_within(iter(items), size * 2 + size - 1)] == ["b", "c"]  # any iterable
    assert newest_within([], 100) == []


def test_stored_item_defaults():
    stored = StoredItem({"a": 1}, 5)
    assert (stored.created, stored.seq, stored.previous) == (False, None, None)
    with pytest.raises(AttributeError):
        stored.timestamp = 6  # type: ignore[misc]
