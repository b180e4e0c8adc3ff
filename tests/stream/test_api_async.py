"""The stream API from async code: the same methods are awaitable (as Motia's steps write them)."""

from __future__ import annotations

import pytest

from motia_django import StreamValidationError, streams

pytestmark = pytest.mark.django_db(transaction=True)


async def test_await_set_get_group_update_delete(changes):
    item = await streams.chatMessage.set("room", "m1", {"id": "m1", "user_id": "u", "message": "hi",
                                                         "timestamp": "t"})
    assert item["__motia"]["groupId"] == "room"
    assert (await streams.chatMessage.get("room", "m1"))["message"] == "hi"
    assert [i["id"] for i in await streams.chatMessage.get_group("room")] == ["m1"]
    assert await streams.chatMessage.list_groups() == ["room"]
    updated = await streams.chatMessage.update("room", "m1", [{"type": "set", "path": "message", "value": "yo"}])
    assert updated["message"] == "yo"
    await streams.chatMessage.send({"groupId": "room"}, {"type": "typing", "data": {}})
    assert (await streams.chatMessage.delete("room", "m1"))["message"] == "yo"
    assert [c.type for c in changes] == ["create", "update", "event", "delete"]


async def test_explicit_async_twins():
    await streams.openai.aset("t", "message", {"message": "a"})
    assert await streams.openai.aget("t", "message") == {"id": "message", "message": "a"}
    assert len(await streams.openai.aget_group("t")) == 1
    assert await streams.openai.alist_groups() == ["t"]
    await streams.openai.aupdate("t", "message", {"type": "set", "path": "message", "value": "b"})
    await streams.openai.asend({"groupId": "t"}, {"type": "x", "data": None})
    assert (await streams.openai.adelete("t", "message"))["message"] == "b"


async def test_async_validation_error_is_raised_on_await():
    with pytest.raises(StreamValidationError, match="data.message"):
        await streams.openai.set("t", "m", {"message": 1})


@pytest.fixture(autouse=True)
def _close_pool_connections():
    # The pool keeps its connections open; close them so that the test database can be dropped (PostgreSQL).
    yield
    from motia_django.bridge import close_connections

    close_connections()
