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


@pytest.mark.parametrize("bad", ["\ud800", "ok\udbff", "a\x00b"])
async def test_inside_a_step_a_set_or_send_the_rule_refuses_raises_before_returning(bad, changes):
    """In a step's write scope a set returns before its commit: what the database or the wire cannot carry is
    refused before it returns, so the step is never handed an item that is not stored, and the ephemeral event
    reaches no one."""
    from motia_django.models import StreamItem
    from motia_django.stream.write_queue import write_scope

    async with write_scope():
        with pytest.raises(StreamValidationError, match="data.message is not JSON"):
            await streams.chatMessage.set("scope", "m1", {"id": "m1", "user_id": "u", "message": bad,
                                                           "timestamp": "t"})
        with pytest.raises(StreamValidationError, match="data.user_id is not JSON"):
            await streams.chatMessage.send({"groupId": "scope"}, {"type": "typing", "data": {"user_id": bad}})
        await streams.chatMessage.set("scope", "m2", {"id": "m2", "user_id": "u", "message": "fine",
                                                       "timestamp": "t"})
    assert [i async for i in StreamItem.objects.filter(group_id="scope").values_list("item_id", flat=True)] == ["m2"]
    assert [(c.type, c.id) for c in changes] == [("create", "m2")]
