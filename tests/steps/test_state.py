"""context.state: JSON values by (group, key), persisted, sync and awaitable."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from motia_django.exceptions import StreamValidationError
from motia_django.models import StateEntry
from motia_django.steps.state import state

pytestmark = pytest.mark.django_db


def test_set_get_delete():
    assert state.get("g", "missing") is None
    assert state.set("g", "a", {"x": 1}) == {"x": 1}
    assert state.get("g", "a") == {"x": 1}
    assert state.set("g", "a", [1]) == [1]  # replaces
    assert StateEntry.objects.filter(group="g", key="a").count() == 1
    assert state.delete("g", "a") == [1]
    assert state.delete("g", "a") is None
    assert state.get("g", "a") is None


def test_groups_are_separate_and_ordered():
    state.set("g1", "b", 2)
    state.set("g1", "a", 1)
    state.set("g2", "a", "other")
    assert state.get_group("g1") == [2, 1]
    assert state.getGroup("g2") == ["other"]
    state.clear("g1")
    assert state.get_group("g1") == []
    assert state.get("g2", "a") == "other"


def test_values_may_be_any_json():
    for value in (None, 0, "s", [1, {"a": None}], True):
        assert state.set("j", "k", value) == value
        assert state.get("j", "k") == value


@pytest.mark.parametrize(("group", "key", "value"), [("", "k", 1), ("g", None, 1), ("g", "k", object())])
def test_bad_input(group, key, value):
    with pytest.raises(StreamValidationError):
        state.set(group, key, value)


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(("value", "reason"), [
    ({"name": "\ud800"}, "not valid Unicode"), ({"name": "a\x00b"}, "NUL"), ({"n": float("nan")}, "not finite"),
    ({"n": 2**64}, "64-bit"), (_deep(65), "nested deeper than 64"),
])
def test_a_value_the_json_rule_refuses_is_not_stored(value, reason):
    """context.state keeps the package's one JSON rule: what the database or the wire cannot carry is refused,
    naming the field, and nothing is stored; 64 levels are fine."""
    with pytest.raises(StreamValidationError, match=reason):
        state.set("rule", "k", value)
    assert not StateEntry.objects.filter(group="rule").exists()
    assert state.set("rule", "ok", _deep(64)) == _deep(64)


def test_update_ops_start_from_an_empty_object():
    assert state.update("u", "order", [{"type": "set", "path": "status", "value": "new"},
                                       {"type": "increment", "path": "meta.views"}]) == {
        "status": "new", "meta": {"views": 1}}
    assert state.update("u", "order", [{"type": "increment", "path": "meta.views", "by": 2},
                                       {"type": "merge", "value": {"paid": True}},
                                       {"type": "remove", "path": "status"}]) == {"meta": {"views": 3}, "paid": True}
    assert state.get("u", "order") == {"meta": {"views": 3}, "paid": True}
    assert state.update("u", "single", {"type": "decrement", "path": "n"}) == {"n": -1}  # one op, as a dict
    state.set("u", "null", None)
    assert state.update("u", "null", [{"type": "set", "path": "a", "value": 1}]) == {"a": 1}


@pytest.mark.parametrize("ops", [[], [{"type": "nope"}], [{"type": "increment", "path": "name"}],
                                 [{"type": "set", "path": "a"}]])
def test_bad_update_ops_change_nothing(ops):
    state.set("u", "k", {"name": "x"})
    with pytest.raises(StreamValidationError):
        state.update("u", "k", ops)
    assert state.get("u", "k") == {"name": "x"}


def test_update_needs_an_object():
    state.set("u", "list", [1, 2])
    with pytest.raises(StreamValidationError, match="holds a list"):
        state.update("u", "list", [{"type": "set", "path": "a", "value": 1}])
    assert state.get("u", "list") == [1, 2]
    with pytest.raises(StreamValidationError):
        state.update("", "k", [{"type": "set", "path": "a", "value": 1}])


def test_list_groups():
    assert state.list_groups() == []
    state.set("b-group", "k", 1)
    state.set("a-group", "k", 1)
    state.set("a-group", "k2", 2)
    assert state.list_groups() == ["a-group", "b-group"]
    assert state.listGroups() == ["a-group", "b-group"]
    state.clear("a-group")
    assert state.list_groups() == ["b-group"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_lose_nothing():
    """Eight threads increment one counter 10 times each: the read-modify-write is atomic."""
    from tests.support.waiting import in_threads

    if connections["default"].vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite's in-memory test database takes one at a time)")

    def bump() -> None:
        for _ in range(10):
            state.update("counters", "hits", [{"type": "increment", "path": "n"}])

    assert in_threads(bump, 8) == []
    assert state.get("counters", "hits") == {"n": 80}


@pytest.mark.django_db(transaction=True)
async def test_async_twins():
    assert await state.set("async", "k", {"v": 1}) == {"v": 1}
    assert await state.get("async", "k") == {"v": 1}
    assert await state.get_group("async") == [{"v": 1}]
    assert await state.update("async", "k", [{"type": "increment", "path": "v"}]) == {"v": 2}
    assert await state.aupdate("async", "k", [{"type": "increment", "path": "v"}]) == {"v": 3}
    assert await state.list_groups() == ["async"]
    assert await state.alist_groups() == ["async"]
    assert await state.delete("async", "k") == {"v": 3}
    await state.clear("async")
    await close_executor_connection()


async def close_executor_connection() -> None:
    """Close the connection sync_to_async's worker thread opened, so the test database can be dropped."""
    await sync_to_async(connections.close_all)()
