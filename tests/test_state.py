"""context.state: JSON values by (group, key), persisted, sync and awaitable."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from motia_django.exceptions import StreamValidationError
from motia_django.models import StateEntry
from motia_django.state import state

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


@pytest.mark.django_db(transaction=True)
async def test_async_twins():
    assert await state.set("async", "k", {"v": 1}) == {"v": 1}
    assert await state.get("async", "k") == {"v": 1}
    assert await state.get_group("async") == [{"v": 1}]
    assert await state.delete("async", "k") == {"v": 1}
    await state.clear("async")
    await close_executor_connection()


async def close_executor_connection() -> None:
    """Close the connection sync_to_async's worker thread opened, so the test database can be dropped."""
    await sync_to_async(connections.close_all)()
